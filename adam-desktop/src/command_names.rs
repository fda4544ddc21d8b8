// The one list of the commands the UI may call. build.rs makes a permission of each and writes
// the capability file from it; lib.rs registers each handler of `commands` from it.
with_commands! {
    server_url,
    set_server_url,
    restore_session,
    sign_in,
    sign_out,
    sign_out_everywhere,
    profile,
    change_password,
    update_profile,
    list_users,
    create_user,
    update_user,
    my_sessions,
    end_session,
    end_user_sessions,
}
