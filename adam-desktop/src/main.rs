//! The Adam desktop app. Everything lives in the library, so it can be tested.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    adam_desktop::run();
}
