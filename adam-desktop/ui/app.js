// The UI of adam-desktop. It only calls Tauri commands; tokens never reach this script.
"use strict";

const invoke = window.__TAURI__.core.invoke;
const $ = (id) => document.getElementById(id);
const ROLE_NAMES = { system_admin: "System Admin", dealer_principal: "Dealer Principal", fi_manager: "F&I Manager" };
let me = null;
let dealerships = [];
// Where the enrollment screen and the recovery codes lead: "signin" (enrollment forced at
// sign-in) or "profile" (turned on from the profile).
let enrollFor = "profile";
let afterCodes = null;

function show(screen) {
  for (const id of ["loading", "signin", "code", "newpw", "enroll", "codes", "app"]) $(id).hidden = id !== screen;
}

function message(err) {
  if (err && typeof err === "object" && "kind" in err) {
    switch (err.kind) {
      case "invalid_credentials": return "Incorrect email or password.";
      case "too_many_attempts": return "Too many attempts. Wait a moment and try again.";
      case "unreachable": return `Cannot reach the server at ${err.message}. Check the server address.`;
      case "signed_out": return "Your session has ended. Please sign in again.";
      case "not_found": return "Not found.";
      case "code_invalid": return "That code is not right, or was used already.";
      case "sign_in_expired": return "The sign-in has expired. Enter your password again.";
      default: return err.message || String(err.kind);
    }
  }
  return String(err);
}

function flash(text, isError) {
  const ok = $("app-message"), bad = $("app-error");
  ok.hidden = bad.hidden = true;
  const el = isError ? bad : ok;
  el.textContent = text;
  el.hidden = false;
}

async function guarded(action) {
  try {
    return await action();
  } catch (err) {
    if (err && err.kind === "signed_out") {
      await toSignIn("Your session has ended. Please sign in again.");
    } else {
      flash(message(err), true);
    }
    return undefined;
  }
}

async function toSignIn(notice) {
  me = null;
  $("password").value = "";
  const url = await invoke("server_url");
  $("server-label").textContent = url;
  $("server-url").value = url;
  const e = $("signin-error");
  e.textContent = notice || "";
  e.hidden = !notice;
  show("signin");
  $("email").focus();
}

/** Whether the signed-in user may do `action` to others (GET /auth/permissions). */
function may(action) {
  return Boolean(me && me.actions.includes(action));
}

function renderProfile(p) {
  me = p;
  $("who-name").textContent = `${p.full_name} · ${ROLE_NAMES[p.role] || p.role}`;
  $("profile-name").textContent = p.full_name;
  $("profile-email").textContent = p.email;
  $("profile-role").textContent = ROLE_NAMES[p.role] || p.role;
  $("profile-dealership").textContent = p.dealership_name || (p.dealership_id ? p.dealership_id : "All dealerships");
  // What the user may do to others comes from the server's role table (GET /auth/permissions).
  $("tab-users").hidden = !may("users.read");
  $("tab-activity").hidden = !may("audit.read");
}

// The second factor card reads both the authenticator app's state and the passkeys: a passkey
// is a second factor too (the server counts either), so "Off" would be wrong with one alone.
let mfaStatus = null;
let passkeyCount = 0;

function showMfaState() {
  const s = mfaStatus;
  if (!s) return;
  const required = s.required ? " · required for your account" : "";
  const passkeys = passkeyCount === 1 ? "your passkey" : "your passkeys";
  $("mfa-state").textContent = s.totp_enabled
    ? `On · ${s.recovery_codes_left} recovery codes left${required}`
    : passkeyCount > 0
      ? `On with ${passkeys} · no authenticator app${required}`
      : `Off${required}`;
}

async function loadMfa() {
  const s = await guarded(() => invoke("mfa_status"));
  if (!s) return;
  mfaStatus = s;
  showMfaState();
  $("mfa-on-form").hidden = s.totp_enabled;
  $("mfa-off-form").hidden = !s.totp_enabled || s.required;
  $("mfa-codes-form").hidden = !s.totp_enabled;
}

function showEnrollment(e, purpose) {
  enrollFor = purpose;
  $("enroll-qr").src = e.qr_image;
  $("enroll-secret").textContent = e.secret;
  $("enroll-code").value = "";
  $("enroll-error").hidden = true;
  show("enroll");
  $("enroll-code").focus();
}

function showCodes(codes, then) {
  $("recovery-codes").replaceChildren(...codes.map((c) => { const li = document.createElement("li"); li.textContent = c; return li; }));
  $("codes-message").hidden = true;
  afterCodes = then;
  show("codes");
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (_) {
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
}

function when(iso) {
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString();
}

async function loadSessions() {
  const data = await guarded(() => invoke("my_sessions"));
  if (!data) return;
  const rows = data.items.map((s) => {
    const tr = document.createElement("tr");
    if (s.current) tr.className = "current";
    const cell = (text) => { const td = document.createElement("td"); td.textContent = text; return td; };
    const device = s.current ? `This device · ${s.user_agent || "Adam"}` : (s.user_agent || "Unknown program");
    const actions = document.createElement("td");
    if (!s.current) {
      const end = document.createElement("button");
      end.type = "button";
      end.className = "end-session danger-outline";
      end.textContent = "Sign out";
      end.addEventListener("click", async () => {
        const done = await guarded(() => invoke("end_session", { id: s.id }));
        if (done !== undefined) flash("That device has been signed out.", false);
        loadSessions();
      });
      actions.append(end);
    }
    tr.append(cell(device), cell(s.ip || "—"), cell(when(s.created_at)), cell(when(s.last_used_at)), actions);
    return tr;
  });
  $("sessions-body").replaceChildren(...rows);
}

async function loadPasskeys() {
  let keys;
  try {
    keys = await invoke("my_passkeys");
  } catch (_) {
    // Passkeys are off on this server (or it cannot be reached): no card.
    $("passkeys-card").hidden = true;
    passkeyCount = 0;
    showMfaState();
    return;
  }
  passkeyCount = keys.length;
  showMfaState();
  $("passkeys-card").hidden = false;
  $("no-passkeys").hidden = keys.length > 0;
  const items = keys.map((k) => {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.className = "passkey";
    label.textContent = `${k.name} · added ${when(k.created_at)}${k.last_used_at ? ` · last used ${when(k.last_used_at)}` : ""}`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "remove-passkey danger-outline";
    remove.textContent = "Remove";
    remove.addEventListener("click", async () => {
      const done = await guarded(() => invoke("remove_passkey", { id: k.id }));
      if (done !== undefined) flash(`The passkey "${k.name}" has been removed.`, false);
      loadPasskeys();
    });
    li.append(label, " ", remove);
    return li;
  });
  $("passkeys-list").replaceChildren(...items);
}

// Where a sign-in goes after a step that did not sign in yet: the app, or the new password.
function afterStep(step) {
  if (step.step === "signed_in") { toApp(step.profile); return; }
  $("newpw-password").value = "";
  $("newpw-error").hidden = true;
  show("newpw");
  $("newpw-password").focus();
}

function toApp(profile) {
  renderProfile(profile);
  $("app-error").hidden = $("app-message").hidden = true;
  selectTab("profile");
  show("app");
}

function selectTab(tab) {
  for (const t of ["profile", "users", "activity"]) {
    $(`tab-${t}`).classList.toggle("active", tab === t);
    $(`view-${t}`).hidden = tab !== t;
  }
  if (tab === "users") loadUsers();
  if (tab === "profile") { loadSessions(); loadMfa(); loadPasskeys(); }
  if (tab === "activity") openActivity();
}

// The audit log's actions (contract: "Audit log"), as the Activity tab names them.
const ACTIONS = {
  "login.succeeded": "Signed in",
  "login.failed": "Sign-in failed",
  "session.ended": "Session ended",
  "refresh.reuse_detected": "Stolen token suspected",
  "mfa.enrolled": "Second factor on",
  "mfa.disabled": "Second factor off",
  "mfa.reset": "Second factor reset",
  "mfa.recovery_codes_regenerated": "New recovery codes",
  "mfa.recovery_code_used": "Recovery code used",
  "passkey.registered": "Passkey added",
  "passkey.removed": "Passkey removed",
  "user.created": "User created",
  "user.updated": "User changed",
  "user.password_changed": "Password changed",
  "user.deleted": "User deleted",
  "dealership.created": "Dealership created",
  "dealership.updated": "Dealership changed",
  "dealership.deleted": "Dealership deleted",
  "keys.rotated": "Signing keys rotated",
  "keys.revoked": "Signing key revoked",
};
// The cursors of the pages shown so far: the first page has none.
let activityPages = [null];
let activityNames = {};

function describe(e) {
  const d = e.details || {};
  const parts = [];
  if (d.method) parts.push(`with ${String(d.method).replaceAll("_", " ")}`);
  if (d.reason) parts.push(String(d.reason).replaceAll("_", " "));
  if (d.how) parts.push(String(d.how).replaceAll("_", " "));
  if (Array.isArray(d.fields)) parts.push(d.fields.join(", "));
  for (const k of ["role", "is_active", "dealership_id", "mfa_required"]) {
    if (d[k] && typeof d[k] === "object" && "from" in d[k]) {
      const name = (v) => (k === "role" ? ROLE_NAMES[v] || v : k === "dealership_id" ? activityNames[v] || v || "none" : String(v));
      parts.push(`${k.replace("_id", "")}: ${name(d[k].from)} → ${name(d[k].to)}`);
    }
  }
  return parts.join(" · ");
}

async function openActivity() {
  const data = await guarded(() => invoke("list_users", { query: "" }));
  if (!data) return;
  activityNames = Object.fromEntries([
    ...data.users.items.map((u) => [u.id, u.email]),
    ...data.dealerships.items.map((d) => [d.id, d.name]),
  ]);
  const person = $("activity-person"), chosen = person.value;
  person.replaceChildren(new Option("Anyone", ""), ...data.users.items.map((u) => new Option(`${u.full_name} (${u.email})`, u.id)));
  person.value = chosen;
  const action = $("activity-action");
  if (action.options.length === 1) action.append(...Object.entries(ACTIONS).map(([a, label]) => new Option(label, a)));
  activityPages = [null];
  loadActivity();
}

// A date field as the start of that day, local time, in RFC 3339; `next` the start of the day after.
function dayStart(value, next) {
  if (!value) return null;
  const d = new Date(`${value}T00:00:00`);
  if (next) d.setDate(d.getDate() + 1);
  return isNaN(d) ? null : d.toISOString();
}

async function loadActivity() {
  const filter = {
    action: $("activity-action").value || null,
    since: dayStart($("activity-from").value, false),
    until: dayStart($("activity-to").value, true),
    cursor: activityPages[activityPages.length - 1],
  };
  if ($("activity-person").value) filter[$("activity-as").value] = $("activity-person").value;
  const page = await guarded(() => invoke("audit_events", { filter }));
  if (!page) return;
  const rows = page.items.map((e) => {
    const tr = document.createElement("tr");
    tr.dataset.action = e.action;
    const cell = (text) => { const td = document.createElement("td"); td.textContent = text; return td; };
    const by = e.actor ? e.actor.email || activityNames[e.actor.id] || e.actor.id : "—";
    const about = e.subject ? activityNames[e.subject.id] || `${e.subject.type} ${e.subject.id.slice(0, 8)}` : "—";
    tr.append(cell(when(e.at)), cell(ACTIONS[e.action] || e.action), cell(by), cell(about), cell(e.ip || "—"), cell(describe(e)));
    return tr;
  });
  $("activity-body").replaceChildren(...rows);
  $("activity-empty").hidden = rows.length > 0;
  $("activity-page").textContent = `Page ${activityPages.length}`;
  $("activity-newer").disabled = activityPages.length === 1;
  $("activity-older").disabled = !page.next_cursor;
  $("activity-older").dataset.cursor = page.next_cursor || "";
}

function roleOptions(select, current) {
  const roles = ["fi_manager", "dealer_principal", "system_admin"].filter((r) => me.assignable_roles.includes(r));
  select.replaceChildren(...roles.map((r) => {
    const o = document.createElement("option");
    o.value = r; o.textContent = ROLE_NAMES[r]; o.selected = r === current;
    return o;
  }));
}

async function loadUsers() {
  $("export-review").hidden = !may("users.review");
  const data = await guarded(() => invoke("list_users", { query: $("user-search").value }));
  if (!data) return;
  dealerships = data.dealerships.items;
  const names = Object.fromEntries(dealerships.map((d) => [d.id, d.name]));
  const rows = data.users.items.map((u) => {
    const tr = document.createElement("tr");
    tr.dataset.email = u.email;
    const cell = (text) => { const td = document.createElement("td"); td.textContent = text; return td; };
    const status = document.createElement("td");
    const pill = document.createElement("span");
    pill.className = `pill ${u.is_active ? "active" : "inactive"}`;
    pill.textContent = u.is_active ? "Active" : "Inactive";
    status.append(pill);
    const actions = document.createElement("td");
    const editable = u.id !== me.id && may("users.update") && me.assignable_roles.includes(u.role);
    if (editable) {
      const role = document.createElement("select");
      role.setAttribute("aria-label", `Role of ${u.email}`);
      roleOptions(role, u.role);
      role.addEventListener("change", () => changeUser(u.id, { role: role.value }, `Role of ${u.email} changed.`));
      const toggle = document.createElement("button");
      toggle.type = "button";
      toggle.className = "toggle-active";
      toggle.textContent = u.is_active ? "Deactivate" : "Activate";
      toggle.addEventListener("click", () => changeUser(u.id, { is_active: !u.is_active }, `${u.email} ${u.is_active ? "deactivated" : "activated"}.`));
      const everywhere = document.createElement("button");
      everywhere.type = "button";
      everywhere.className = "end-user-sessions";
      everywhere.textContent = "Sign out everywhere";
      everywhere.addEventListener("click", async () => {
        const done = await guarded(() => invoke("end_user_sessions", { id: u.id }));
        if (done !== undefined) flash(`${u.email} has been signed out on every device.`, false);
      });
      actions.append(role, " ", toggle, " ", everywhere);
      if (u.mfa_enabled) {
        const reset = document.createElement("button");
        reset.type = "button";
        reset.className = "reset-mfa danger-outline";
        reset.textContent = "Reset second factor";
        reset.addEventListener("click", async () => {
          const done = await guarded(() => invoke("reset_user_mfa", { id: u.id }));
          if (done !== undefined) flash(`The second factor of ${u.email} has been reset; they are signed out.`, false);
          loadUsers();
        });
        actions.append(" ", reset);
      }
    }
    tr.append(cell(u.full_name), cell(u.email), cell(ROLE_NAMES[u.role] || u.role), cell(names[u.dealership_id] || (u.dealership_id ? "—" : "All")), cell(u.mfa_enabled ? "On" : "Off"), cell(u.last_sign_in_at ? when(u.last_sign_in_at) : "Never"), status, actions);
    return tr;
  });
  $("users-body").replaceChildren(...rows);
  $("dealerships-body").replaceChildren(...dealerships.map((d) => {
    const tr = document.createElement("tr");
    tr.dataset.name = d.name;
    const name = document.createElement("td");
    name.textContent = d.name;
    const cell = document.createElement("td");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "mfa-required";
    box.checked = d.mfa_required;
    box.setAttribute("aria-label", `Second factor required at ${d.name}`);
    // A principal may turn it on, never off.
    // Turning it off is the whole dealership's to change (a principal may only turn it on).
    box.disabled = !may("dealerships.mfa_required.set") || (d.mfa_required && !may("dealerships.update"));
    box.addEventListener("change", async () => {
      const done = await guarded(() => invoke("set_dealership_mfa", { id: d.id, required: box.checked }));
      if (done) flash(done.mfa_required ? `${d.name} now requires a second factor; sessions without one have ended.` : `${d.name} no longer requires a second factor.`, false);
      if (me) loadUsers();
    });
    cell.append(box);
    tr.append(name, cell);
    return tr;
  }));
  roleOptions($("new-user-role"), "fi_manager");
  roleOptions($("invite-role"), "fi_manager");
  $("invite-dealership").replaceChildren(...dealerships.map((d) => { const o = document.createElement("option"); o.value = d.id; o.textContent = d.name; return o; }));
  $("invite-dealership-label").hidden = Boolean(me.dealership_id);
  await loadInvitations(names);
  const ds = $("new-user-dealership");
  ds.replaceChildren(...dealerships.map((d) => { const o = document.createElement("option"); o.value = d.id; o.textContent = d.name; return o; }));
  // Users without a dealership (system admins) place new users in one.
  $("new-user-dealership-label").hidden = Boolean(me.dealership_id);
}

const MAIL_STATES = { not_sent: "Not sent (link handed over)", queued: "Queued", sent: "Sent", failed: "Failed" };

/** Shows the link of an invitation when the server sends no mail (the answer holds it once). */
function showInviteLink(invitation) {
  $("invite-link").hidden = !invitation.invite_url;
  $("invite-url").textContent = invitation.invite_url || "";
}

// While an invitation's mail is queued, the list is read again every few seconds (for about a
// minute at most), so that "Queued" turns into "Sent" or "Failed" without a reload.
let invitationsRecheck = null;
const INVITATIONS_RECHECK_MS = 2000;
const INVITATIONS_RECHECKS = 30;

async function loadInvitations(names, rechecks = INVITATIONS_RECHECKS) {
  clearTimeout(invitationsRecheck);
  $("invitations-card").hidden = !may("invitations.manage");
  if (!may("invitations.manage")) return;
  const data = await guarded(() => invoke("list_invitations"));
  if (!data) return;
  const pending = data.items.filter((i) => i.status === "pending");
  if (rechecks > 0 && pending.some((i) => i.mail_status === "queued")) {
    invitationsRecheck = setTimeout(() => {
      // Only while the card is on screen (the Users tab, signed in).
      if ($("invitations-card").offsetParent !== null) loadInvitations(names, rechecks - 1);
    }, INVITATIONS_RECHECK_MS);
  }
  $("invitations-body").replaceChildren(...pending.map((i) => {
    const tr = document.createElement("tr");
    tr.dataset.email = i.email;
    const cell = (text) => { const td = document.createElement("td"); td.textContent = text; return td; };
    const actions = document.createElement("td");
    const resend = document.createElement("button");
    resend.type = "button";
    resend.className = "resend-invitation";
    resend.textContent = "Resend";
    resend.addEventListener("click", async () => {
      const again = await guarded(() => invoke("resend_invitation", { id: i.id }));
      if (again) { showInviteLink(again); flash(`A new invitation link for ${i.email}; the old one no longer works.`, false); loadUsers(); }
    });
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.className = "revoke-invitation danger-outline";
    revoke.textContent = "Revoke";
    revoke.addEventListener("click", async () => {
      const done = await guarded(() => invoke("revoke_invitation", { id: i.id }));
      if (done !== undefined) { flash(`The invitation of ${i.email} is revoked.`, false); loadUsers(); }
    });
    actions.append(resend, " ", revoke);
    tr.append(cell(i.email), cell(i.full_name), cell(ROLE_NAMES[i.role] || i.role), cell(names[i.dealership_id] || (i.dealership_id ? "—" : "All")), cell(when(i.expires_at)), cell(MAIL_STATES[i.mail_status] || i.mail_status), actions);
    return tr;
  }));
}

async function changeUser(id, changes, done) {
  const ok = await guarded(() => invoke("update_user", { id, changes }));
  if (ok !== undefined) flash(done, false);
  loadUsers();
}

window.addEventListener("DOMContentLoaded", async () => {
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = $("signin-button");
    button.disabled = true;
    $("signin-error").hidden = true;
    try {
      const step = await invoke("sign_in", { email: $("email").value, password: $("password").value });
      if (step.step === "code") { $("mfa-code").value = ""; $("code-error").hidden = true; show("code"); $("mfa-code").focus(); }
      else if (step.step === "enroll") showEnrollment(await invoke("sign_in_enroll"), "signin");
      else afterStep(step);
    } catch (err) {
      $("signin-error").textContent = message(err);
      $("signin-error").hidden = false;
    } finally {
      button.disabled = false;
      $("password").value = "";
    }
  });
  $("browser-signin").addEventListener("click", async () => {
    const button = $("browser-signin");
    button.disabled = true;
    $("signin-error").hidden = true;
    $("browser-waiting").hidden = false;
    try {
      toApp(await invoke("sign_in_with_browser"));
    } catch (err) {
      $("signin-error").textContent = message(err);
      $("signin-error").hidden = false;
    } finally {
      button.disabled = false;
      $("browser-waiting").hidden = true;
    }
  });
  $("forgot-password").addEventListener("click", async () => {
    const email = $("email").value.trim();
    $("signin-error").hidden = true;
    $("forgot-done").hidden = true;
    if (!email) {
      $("signin-error").textContent = "Type your email first, then choose Forgot password.";
      $("signin-error").hidden = false;
      $("email").focus();
      return;
    }
    try {
      await invoke("request_password_reset", { email });
      $("forgot-done").textContent = `If ${email} has an account, a link to choose a new password is on its way: check your mail.`;
      $("forgot-done").hidden = false;
    } catch (err) {
      $("signin-error").textContent = message(err);
      $("signin-error").hidden = false;
    }
  });
  $("code-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      afterStep(await invoke("sign_in_code", { code: $("mfa-code").value }));
    } catch (err) {
      if (err && err.kind === "sign_in_expired") { toSignIn(message(err)); return; }
      $("code-error").textContent = message(err);
      $("code-error").hidden = false;
      $("mfa-code").value = "";
    }
  });
  $("code-cancel").addEventListener("click", () => toSignIn());
  $("newpw-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = $("newpw-button");
    button.disabled = true;
    try {
      toApp(await invoke("sign_in_new_password", { newPassword: $("newpw-password").value }));
    } catch (err) {
      if (err && err.kind === "sign_in_expired") { toSignIn(message(err)); return; }
      $("newpw-error").textContent = message(err);
      $("newpw-error").hidden = false;
    } finally {
      button.disabled = false;
      $("newpw-password").value = "";
    }
  });
  $("newpw-cancel").addEventListener("click", () => toSignIn());
  $("enroll-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const code = $("enroll-code").value;
    try {
      if (enrollFor === "signin") {
        const done = await invoke("sign_in_enroll_confirm", { code });
        showCodes(done.recovery_codes, () => afterStep(done.step));
      } else {
        const done = await invoke("mfa_confirm", { code });
        showCodes(done.recovery_codes, () => { show("app"); selectTab("profile"); flash("Second factor on.", false); });
      }
    } catch (err) {
      if (err && (err.kind === "sign_in_expired" || err.kind === "signed_out")) { toSignIn(message(err)); return; }
      $("enroll-error").textContent = message(err);
      $("enroll-error").hidden = false;
    }
  });
  $("enroll-cancel").addEventListener("click", () => { if (enrollFor === "signin" || !me) toSignIn(); else show("app"); });
  $("codes-copy").addEventListener("click", async () => {
    const codes = [...document.querySelectorAll("#recovery-codes li")].map((li) => li.textContent).join("\n");
    await copyText(codes);
    $("codes-message").textContent = "Copied.";
    $("codes-message").hidden = false;
  });
  $("codes-done").addEventListener("click", () => { const then = afterCodes; afterCodes = null; $("recovery-codes").replaceChildren(); if (then) then(); });
  $("mfa-on-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const e = await guarded(() => invoke("mfa_start", { currentPassword: $("mfa-on-password").value }));
    $("mfa-on-password").value = "";
    if (e) showEnrollment(e, "profile");
  });
  $("mfa-off-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const done = await guarded(() => invoke("mfa_disable", { currentPassword: $("mfa-off-password").value, code: $("mfa-off-code").value }));
    $("mfa-off-password").value = $("mfa-off-code").value = "";
    if (done !== undefined) flash("Second factor off. Your other devices have been signed out.", false);
    loadMfa();
  });
  $("mfa-codes-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const done = await guarded(() => invoke("mfa_new_codes", { code: $("mfa-codes-code").value }));
    $("mfa-codes-code").value = "";
    if (done) showCodes(done.recovery_codes, () => { show("app"); selectTab("profile"); });
  });
  $("server-save").addEventListener("click", async () => {
    const m = $("server-message");
    try {
      const url = await invoke("set_server_url", { url: $("server-url").value });
      $("server-label").textContent = url;
      m.textContent = "Saved.";
    } catch (err) {
      m.textContent = message(err);
    }
    m.hidden = false;
  });
  $("signout").addEventListener("click", async () => { await guarded(() => invoke("sign_out")); toSignIn("You have signed out."); });
  $("signout-all").addEventListener("click", async () => { await guarded(() => invoke("sign_out_everywhere")); toSignIn("You have signed out on every device."); });
  $("tab-profile").addEventListener("click", () => selectTab("profile"));
  $("tab-users").addEventListener("click", () => selectTab("users"));
  $("tab-activity").addEventListener("click", () => selectTab("activity"));
  $("activity-form").addEventListener("submit", (ev) => { ev.preventDefault(); activityPages = [null]; loadActivity(); });
  $("activity-older").addEventListener("click", () => { activityPages.push($("activity-older").dataset.cursor); loadActivity(); });
  $("activity-newer").addEventListener("click", () => { if (activityPages.length > 1) activityPages.pop(); loadActivity(); });
  $("user-search").addEventListener("input", () => loadUsers());
  $("export-review").addEventListener("click", async () => {
    const path = await guarded(() => invoke("export_access_review"));
    if (path) flash(`Access review saved to ${path}`, false);
  });
  $("name-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const p = await guarded(() => invoke("update_profile", { fullName: $("new-name").value }));
    if (p) { renderProfile(p); $("new-name").value = ""; flash("Name saved.", false); }
  });
  $("password-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const done = await guarded(() => invoke("change_password", { currentPassword: $("current-password").value, newPassword: $("new-password").value }));
    $("current-password").value = $("new-password").value = "";
    if (done !== undefined) flash("Password changed. Your other devices have been signed out.", false);
  });
  $("invite-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const invitation = {
      email: $("invite-email").value,
      full_name: $("invite-name").value,
      role: $("invite-role").value,
      dealership_id: !me.dealership_id && $("invite-role").value !== "system_admin" ? $("invite-dealership").value : null,
    };
    const made = await guarded(() => invoke("invite_user", { invitation }));
    if (made) {
      for (const id of ["invite-email", "invite-name"]) $(id).value = "";
      showInviteLink(made);
      flash(made.invite_url ? `Invitation for ${made.email} made: hand over the link below.` : `Invitation mailed to ${made.email}.`, false);
      loadUsers();
    }
  });
  $("invite-copy").addEventListener("click", () => copyText($("invite-url").textContent));
  $("new-user-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const user = {
      email: $("new-user-email").value,
      full_name: $("new-user-name").value,
      role: $("new-user-role").value,
      password: $("new-user-password").value,
      dealership_id: !me.dealership_id && $("new-user-role").value !== "system_admin" ? $("new-user-dealership").value : null,
      must_change_password: $("new-user-must-change").checked,
    };
    const created = await guarded(() => invoke("create_user", { user }));
    if (created) {
      for (const id of ["new-user-email", "new-user-name", "new-user-password"]) $(id).value = "";
      flash(`${created.email} created.`, false);
      loadUsers();
    }
  });

  try {
    const profile = await invoke("restore_session");
    if (profile) toApp(profile); else toSignIn();
  } catch (err) {
    toSignIn(message(err));
  }
});
