#!/usr/bin/env python3
"""End-to-end test of adam-desktop in a real window, through W3C WebDriver (WebKitWebDriver).

Run by run.sh, which provides Xvfb, a private D-Bus session with an unlocked gnome-keyring, a real
adam-server on SQLite (sending mail to this test's SMTP server, aiosmtpd) and WebKitWebDriver.
Standard library and aiosmtpd only.
"""
import argparse
import email
import email.policy
import re
import threading
import base64
import hashlib
import hmac
import json
import os
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from aiosmtpd.controller import Controller

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
ARGS = None
RESULTS = []


def http(method, url, body=None, token=None, timeout=60, user_agent=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if user_agent:
        req.add_header("User-Agent", user_agent)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for attempt in range(5):
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                text = resp.read().decode()
                return resp.status, (json.loads(text) if text else None)
        except urllib.error.HTTPError as e:
            text = e.read().decode()
            return e.code, (json.loads(text) if text else None)
        except (ConnectionError, urllib.error.URLError):
            if attempt == 4:
                raise
            time.sleep(0.5)


class Inbox:
    """The mail the server sent, as the SMTP server received it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.extend((r.lower(), message) for r in envelope.rcpt_tos)
        return "250 OK"

    def to(self, address):
        with self.lock:
            return [m for (r, m) in self.messages if r == address.lower()]


INBOX = Inbox()


class App:
    """One run of the app, as a WebDriver session."""

    def __init__(self):
        caps = {"capabilities": {"alwaysMatch": {"webkitgtk:browserOptions": {"binary": ARGS.app, "args": []}}}}
        status, body = http("POST", f"{ARGS.driver}/session", caps)
        assert status == 200, body
        self.sid = body["value"]["sessionId"]

    def cmd(self, method, path, body=None):
        status, out = http(method, f"{ARGS.driver}/session/{self.sid}{path}", body)
        if status != 200:
            raise AssertionError(f"{method} {path}: {status} {out}")
        return out["value"]

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def el(self, css):
        return self.cmd("POST", "/element", {"using": "css selector", "value": css})[ELEMENT]

    def click(self, css):
        self.cmd("POST", f"/element/{self.el(css)}/click", {})

    def type(self, css, text):
        e = self.el(css)
        self.cmd("POST", f"/element/{e}/clear", {})
        self.cmd("POST", f"/element/{e}/value", {"text": text})

    def text(self, css):
        return self.cmd("GET", f"/element/{self.el(css)}/text")

    def wait(self, what, condition, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            try:
                if condition():
                    return
            except AssertionError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def screen_is(self, name):
        return self.js(f"return !document.getElementById({json.dumps(name)}).hidden")

    def wait_screen(self, name):
        self.wait(f"the {name} screen", lambda: self.screen_is(name))

    def shot(self, name):
        # Two animation frames, so the screenshot shows the settled page.
        self.cmd("POST", "/execute/async", {"script": "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));", "args": []})
        png = base64.b64decode(self.cmd("GET", "/screenshot"))
        with open(f"{ARGS.shots}/{name}.png", "wb") as f:
            f.write(png)

    def no_tokens_in_page(self):
        dump = self.js("return document.documentElement.outerHTML + JSON.stringify(window.localStorage) + JSON.stringify(window.sessionStorage) + document.cookie")
        assert "adam_rt_" not in dump and "eyJ0eXAi" not in dump, "a token reached the web view"

    def sign_in(self, email, password):
        self.wait_screen("signin")
        self.type("#email", email)
        self.type("#password", password)
        self.click("#signin-button")
        self.wait_screen("app")

    def close(self):
        try:
            http("DELETE", f"{ARGS.driver}/session/{self.sid}")
        except Exception:  # noqa: BLE001 - the app may already be gone
            pass
        time.sleep(0.5)


def keyring_entries():
    out = subprocess.run(["secret-tool", "search", "--all", "service", "adam-desktop"], capture_output=True, text=True)
    return [l.split("=", 1)[1].strip() for l in (out.stdout + out.stderr).splitlines() if l.startswith("attribute.username")]


def totp(secret, offset_steps=0):
    """The RFC 6238 code an authenticator app shows for a base32 secret."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    step = int(time.time()) // 30 + offset_steps
    mac = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def fresh_step(seconds):
    """Waits until the current 30-second step has at least `seconds` left."""
    left = 30 - int(time.time()) % 30
    if left < seconds:
        time.sleep(left + 1)


def check(name, fn):
    try:
        fn()
        RESULTS.append((name, None))
        print(f"ok   {name}", flush=True)
    except Exception as e:  # noqa: BLE001 - report and go on
        RESULTS.append((name, e))
        print(f"FAIL {name}: {e}", flush=True)


MANAGER = ("manager@premiumauto.com", "Manager123!")
PRINCIPAL = ("principal@premiumauto.com", "Principal123!")


def test_sign_in_and_profile():
    app = App()
    try:
        app.wait_screen("signin")
        app.shot("01-sign-in")
        app.type("#email", MANAGER[0])
        app.type("#password", "not the password")
        app.click("#signin-button")
        app.wait("the error", lambda: "Incorrect email or password" in app.text("#signin-error"))
        app.shot("02-sign-in-error")
        app.sign_in(*MANAGER)
        app.wait("the profile", lambda: app.text("#profile-email") == MANAGER[0])
        assert app.text("#profile-role") == "F&I Manager"
        assert app.text("#profile-dealership") == "Premium Auto"
        assert app.screen_is("app") and not app.js("return !document.getElementById('tab-users').hidden"), "managers see no Users tab"
        app.no_tokens_in_page()
        app.shot("03-profile")
        assert keyring_entries() == [f"{MANAGER[0]} @ {ARGS.server}"], keyring_entries()
    finally:
        app.close()


def test_restart_signs_in_silently():
    app = App()
    try:
        app.wait_screen("app")
        assert app.text("#profile-email") == MANAGER[0]
        app.shot("04-restored")
    finally:
        app.close()


def test_sign_out_removes_the_keyring_entry():
    app = App()
    try:
        app.wait_screen("app")
        app.click("#signout")
        app.wait_screen("signin")
        app.shot("05-signed-out")
        assert keyring_entries() == [], keyring_entries()
    finally:
        app.close()


def test_sign_in_with_the_browser():
    """RFC 8252: the system browser ($BROWSER: chromium through WebDriver) signs in at Adam and
    comes back to the app's loopback port; the grant's refresh token goes to the keyring, a
    restart refreshes it at the token endpoint, and "Sign out" ends this app's grant only."""
    app = App()
    try:
        app.wait_screen("signin")
        app.click("#browser-signin")
        app.wait("the profile", lambda: app.screen_is("app") and app.text("#profile-email") == MANAGER[0], timeout=90)
        app.no_tokens_in_page()
        app.shot("05b-signed-in-with-the-browser")
        assert keyring_entries() == [f"{MANAGER[0]} @ {ARGS.server}"], keyring_entries()
    finally:
        app.close()
    app = App()
    try:
        app.wait_screen("app")
        assert app.text("#profile-email") == MANAGER[0]
        app.click("#signout")
        app.wait_screen("signin")
        assert keyring_entries() == [], keyring_entries()
    finally:
        app.close()


def test_passkey_through_the_browser():
    """Issue 31: the system browser (chromium with a virtual authenticator) adds a passkey on
    Adam's /account, then signs in to the app with the passkey alone; the profile lists the
    passkey, and removes it."""
    with open(ARGS.browser_mode, "w") as f:
        f.write("passkey")
    status, admin = http("POST", f"{ARGS.server}/api/v1/auth/login", {"email": ADMIN[0], "password": ADMIN[1]})
    assert status == 200, admin
    app = App()
    try:
        app.wait_screen("signin")
        app.click("#browser-signin")
        app.wait("the profile", lambda: app.screen_is("app") and app.text("#profile-email") == MANAGER[0], timeout=120)
        app.wait("the passkey listed", lambda: "Desktop e2e" in app.text("#passkeys-list"))
        assert app.js("return document.getElementById('no-passkeys').hidden")
        # A passkey is a second factor: the card does not say "Off".
        app.wait("the second factor on with the passkey", lambda: app.text("#mfa-state").startswith("On with your passkey"))
        app.shot("05c-passkeys")
        status, page = http("GET", f"{ARGS.server}/api/v1/audit-events/?action=login.succeeded&limit=1", token=admin["access_token"])
        assert status == 200 and page["items"][0]["actor"]["email"] == MANAGER[0], page
        assert page["items"][0]["details"]["method"] == "passkey", page
        app.click(".remove-passkey")
        app.wait("the passkey removed", lambda: not app.js("return document.getElementById('no-passkeys').hidden"))
        assert "Desktop e2e" not in app.text("#passkeys-list")
        app.wait("the second factor off", lambda: app.text("#mfa-state").startswith("Off"))
        status, page = http("GET", f"{ARGS.server}/api/v1/audit-events/?action=passkey.removed&limit=1", token=admin["access_token"])
        assert status == 200 and len(page["items"]) == 1, page
        app.click("#signout")
        app.wait_screen("signin")
        assert keyring_entries() == [], keyring_entries()
    finally:
        os.remove(ARGS.browser_mode)
        app.close()
        # Whatever happened, the manager leaves without a passkey (the later tests sign in with
        # the password alone).
        status, found = http("GET", f"{ARGS.server}/api/v1/users/?q=manager%40premiumauto", token=admin["access_token"])
        for u in found.get("items", []) if status == 200 else []:
            if u["email"] == MANAGER[0] and u["mfa_enabled"]:
                http("DELETE", f"{ARGS.server}/api/v1/users/{u['id']}/mfa", token=admin["access_token"])


def test_revoked_session_lands_on_sign_in():
    app = App()
    try:
        app.sign_in(*MANAGER)
        assert len(keyring_entries()) == 1
    finally:
        app.close()
    # Revoke every session of the user from the server side.
    status, pair = http("POST", f"{ARGS.server}/api/v1/auth/login", {"email": MANAGER[0], "password": MANAGER[1]})
    assert status == 200, pair
    status, _ = http("POST", f"{ARGS.server}/api/v1/auth/logout-all", {}, token=pair["access_token"])
    assert status == 204
    app = App()
    try:
        app.wait_screen("signin")
        app.shot("06-revoked")
        assert keyring_entries() == [], keyring_entries()
    finally:
        app.close()


def test_my_sessions_and_signing_out_another_device():
    # A phone signs in as the manager; the app lists both sessions and signs the phone out.
    status, phone = http("POST", f"{ARGS.server}/api/v1/auth/login", {"email": MANAGER[0], "password": MANAGER[1]}, user_agent="E2E Phone/1.0")
    assert status == 200, phone
    app = App()
    try:
        app.sign_in(*MANAGER)
        rows = "return document.querySelectorAll('#sessions-body tr').length"
        app.wait("both sessions", lambda: app.js(rows) == 2)
        here = app.text("#sessions-body tr.current td")
        assert here.startswith("This device") and "Adam Desktop/" in here, here
        assert "E2E Phone/1.0" in app.text("#sessions-body tr:not(.current) td")
        app.no_tokens_in_page()
        assert app.js("return document.getElementById('tab-activity').hidden"), "F&I managers have no Activity tab"
        app.shot("08-my-sessions")
        app.click("#sessions-body tr:not(.current) button.end-session")
        app.wait("the phone gone", lambda: app.js(rows) == 1)
        app.wait("the message", lambda: "signed out" in app.text("#app-message"))
        status, _ = http("GET", f"{ARGS.server}/api/v1/auth/me", token=phone["access_token"])
        assert status == 401, status
        status, _ = http("POST", f"{ARGS.server}/api/v1/auth/refresh", {"refresh_token": phone["refresh_token"]})
        assert status == 401, status
        app.click("#signout")
        app.wait_screen("signin")
    finally:
        app.close()


def test_principal_creates_an_fi_manager():
    app = App()
    try:
        app.sign_in(*PRINCIPAL)
        app.click("#tab-users")
        app.wait("the users table", lambda: app.js("return document.querySelectorAll('#users-body tr').length") >= 2)
        app.type("#new-user-name", "Nina Newhire")
        app.type("#new-user-email", "nina@premiumauto.com")
        app.type("#new-user-password", "A-good-long-passphrase")
        app.click("#new-user-submit")
        app.wait("the new row", lambda: app.js("return !!document.querySelector('#users-body tr[data-email=\"nina@premiumauto.com\"]')"))
        app.wait("the message", lambda: "nina@premiumauto.com created" in app.text("#app-message"))
        app.no_tokens_in_page()
        app.shot("07-users")
        # The access review, exported as CSV to the downloads folder.
        app.click("#export-review")
        app.wait("the export", lambda: "Access review saved to" in app.text("#app-message"))
        saved = app.text("#app-message").split("saved to ", 1)[1].strip()
        assert saved.startswith(os.environ["XDG_DOWNLOAD_DIR"]), saved
        with open(saved, encoding="utf-8") as f:
            review = f.read()
        assert review.startswith("id,email,full_name,role,dealership_id,dealership_name,"), review[:200]
        assert "nina@premiumauto.com" in review and "admin@avataradam.com" not in review, review
        # The form asks for a new password at first sign-in by default.
        status, asked = http("POST", f"{ARGS.server}/api/v1/auth/login", {"email": "nina@premiumauto.com", "password": "A-good-long-passphrase"})
        assert status == 401 and asked["type"].endswith("/problems/password-change-required"), asked
        status, pair = http("POST", f"{ARGS.server}/api/v1/auth/login/password", {"password_change_token": asked["password_change_token"], "new_password": "Nina-own-passphrase-1"})
        assert status == 200, pair
        status, me = http("GET", f"{ARGS.server}/api/v1/auth/me", token=pair["access_token"])
        assert me["role"] == "fi_manager" and me["dealership_id"], me
        # The principal signs the new user out on every device.
        app.click('#users-body tr[data-email="nina@premiumauto.com"] button.end-user-sessions')
        app.wait("the message", lambda: "signed out on every device" in app.text("#app-message"))
        status, _ = http("GET", f"{ARGS.server}/api/v1/auth/me", token=pair["access_token"])
        assert status == 401, status
        app.click("#signout-all")
        app.wait_screen("signin")
        assert keyring_entries() == [], keyring_entries()
        # The principal sets Nina's password again, to be changed: the app asks Nina for her own.
        status, principal = http("POST", f"{ARGS.server}/api/v1/auth/login", {"email": PRINCIPAL[0], "password": PRINCIPAL[1]})
        assert status == 200, principal
        status, _ = http("PATCH", f"{ARGS.server}/api/v1/users/{me['id']}", {"password": "Set-again-passphrase-2", "must_change_password": True}, token=principal["access_token"])
        assert status == 200, status
        app.type("#email", "nina@premiumauto.com")
        app.type("#password", "Set-again-passphrase-2")
        app.click("#signin-button")
        app.wait_screen("newpw")
        app.shot("08-new-password")
        app.type("#newpw-password", "Set-again-passphrase-2")
        app.click("#newpw-button")
        app.wait("the refusal", lambda: "differ" in app.text("#newpw-error"))
        app.type("#newpw-password", "Nina-own-passphrase-3")
        app.click("#newpw-button")
        app.wait_screen("app")
        app.no_tokens_in_page()
        assert keyring_entries() == [f"nina@premiumauto.com @ {ARGS.server}"], keyring_entries()
        app.click("#signout")
        app.wait_screen("signin")
    finally:
        app.close()


def test_activity_tab_filters_and_pages():
    status, pair = http("POST", f"{ARGS.server}/api/v1/auth/login", {"email": PRINCIPAL[0], "password": PRINCIPAL[1]})
    assert status == 200, pair
    status, users = http("GET", f"{ARGS.server}/api/v1/users/?q=nina", token=pair["access_token"])
    nina = users["items"][0]["id"]
    # Sixty renames: more than one page of the Activity tab.
    for n in range(60):
        status, _ = http("PATCH", f"{ARGS.server}/api/v1/users/{nina}", {"full_name": f"Nina {n}"}, token=pair["access_token"])
        assert status == 200, status
    status, _ = http("POST", f"{ARGS.server}/api/v1/auth/login", {"email": MANAGER[0], "password": "not the password"})
    assert status == 401, status
    app = App()
    try:
        app.sign_in(*PRINCIPAL)
        app.click("#tab-activity")
        rows = "return [...document.querySelectorAll('#activity-body tr')].map((tr) => tr.dataset.action)"
        app.wait("a full first page", lambda: len(app.js(rows)) == 50)
        assert app.js(rows)[0] == "login.succeeded", app.js(rows)[:3]
        assert app.js(rows)[1] == "login.failed", app.js(rows)[:3]
        assert "Nina 59" not in app.text("#activity-body"), "renames show the changed field, not the value"
        assert "full_name" in app.text("#activity-body tr:nth-child(3)")
        app.no_tokens_in_page()
        app.shot("14-activity")
        # Older and back: the second page follows the first without overlap.
        first = app.js("return [...document.querySelectorAll('#activity-body td:first-child')].map((td) => td.textContent)")
        app.click("#activity-older")
        try:
            app.wait("page 2", lambda: app.text("#activity-page") == "Page 2", timeout=10)
        except AssertionError:
            raise AssertionError(f"no page 2: {app.js('return [document.getElementById(`app-error`).textContent, document.getElementById(`activity-page`).textContent, document.getElementById(`activity-older`).outerHTML]')}")
        second = app.js(rows)
        # The last page ends with the oldest event: the seed's dealership.
        assert 0 < len(second) < 50 and second[-1] == "dealership.created", second
        app.click("#activity-newer")
        app.wait("page 1", lambda: app.text("#activity-page") == "Page 1")
        assert app.js("return [...document.querySelectorAll('#activity-body td:first-child')].map((td) => td.textContent)") == first
        # By action: only failed sign-ins, about the manager.
        app.js("document.getElementById('activity-action').value = 'login.failed'")
        app.click("#activity-show")
        app.wait("failed sign-ins only", lambda: set(app.js(rows)) == {"login.failed"})
        assert MANAGER[0] in app.text("#activity-body tr td:nth-child(4)")
        # By person: what the manager did, from tomorrow on: nothing.
        app.js("document.getElementById('activity-action').value = ''")
        app.js(f"document.getElementById('activity-person').value = {json.dumps(nina)}")
        app.js("document.getElementById('activity-as').value = 'subject_id'")
        app.click("#activity-show")
        app.wait("the renames of Nina", lambda: len(app.js(rows)) == 50 and set(app.js(rows)) <= {"user.updated", "user.created", "login.succeeded", "session.ended"})
        app.js("const d = new Date(Date.now() + 86400000); document.getElementById('activity-from').value = d.toISOString().slice(0, 10)")
        app.click("#activity-show")
        app.wait("nothing from tomorrow on", lambda: app.js(rows) == [] and app.screen_is("activity-empty"))
        app.click("#signout")
        app.wait_screen("signin")
    finally:
        if not app.screen_is("signin"):
            app.js("document.getElementById('signout').click()")
            app.wait_screen("signin")
        app.close()


def password_step(app, email, password, screen):
    app.wait_screen("signin")
    app.type("#email", email)
    app.type("#password", password)
    app.click("#signin-button")
    app.wait_screen(screen)


def read_codes(app):
    return app.js("return [...document.querySelectorAll('#recovery-codes li')].map((li) => li.textContent)")


def test_second_factor_on_the_profile_and_at_sign_in():
    fresh_step(20)
    app = App()
    try:
        app.sign_in(*MANAGER)
        app.wait("the second factor card", lambda: app.screen_is("app") and app.text("#mfa-state").startswith("Off"))
        app.type("#mfa-on-password", MANAGER[1])
        app.click("#mfa-on")
        app.wait_screen("enroll")
        secret = app.text("#enroll-secret")
        assert len(secret) == 32, secret
        assert app.js("return document.getElementById('enroll-qr').src.startsWith('data:image/svg+xml;base64,')")
        app.shot("09-enroll")
        app.type("#enroll-code", totp(secret, -1))
        app.click("#enroll-button")
        app.wait_screen("codes")
        codes = read_codes(app)
        assert len(codes) == 10 and all(len(c) == 14 for c in codes), codes
        app.click("#codes-copy")
        app.wait("copied", lambda: app.text("#codes-message") == "Copied.")
        app.shot("10-recovery-codes")
        app.click("#codes-done")
        app.wait("second factor on", lambda: app.screen_is("app") and app.text("#mfa-state").startswith("On"))
        assert read_codes(app) == [], "the codes are gone from the page"
        app.no_tokens_in_page()
        app.click("#signout")
        # Sign-in asks for the code now.
        password_step(app, *MANAGER, "code")
        app.shot("11-code-prompt")
        app.type("#mfa-code", totp(secret, -1))
        app.click("#code-button")
        app.wait("a replayed code refused", lambda: "not right" in app.text("#code-error"))
        app.type("#mfa-code", totp(secret))
        app.click("#code-button")
        app.wait("signed in", lambda: app.screen_is("app") and app.text("#profile-email") == MANAGER[0])
        app.no_tokens_in_page()
        app.click("#signout")
        # And a recovery code works once.
        password_step(app, *MANAGER, "code")
        app.type("#mfa-code", codes[0].lower())
        app.click("#code-button")
        app.wait("signed in with a recovery code", lambda: app.screen_is("app") and app.text("#mfa-state").startswith("On · 9"))
        app.click("#signout")
        app.wait_screen("signin")
    finally:
        app.close()


def test_required_by_the_dealership_then_reset_by_an_admin():
    app = App()
    try:
        app.sign_in(*PRINCIPAL)
        app.click("#tab-users")
        box = '#dealerships-body tr[data-name="Premium Auto"] input.mfa-required'
        app.wait("the dealership switch", lambda: app.js(f"return !!document.querySelector({json.dumps(box)})"))
        app.click(box)
        # The principal signed in with a password only: that session ends with the switch.
        app.wait_screen("signin")
        password_step(app, *PRINCIPAL, "enroll")
        app.shot("12-enroll-required")
        secret = app.text("#enroll-secret")
        app.type("#enroll-code", totp(secret))
        app.click("#enroll-button")
        app.wait_screen("codes")
        assert len(read_codes(app)) == 10
        app.click("#codes-done")
        app.wait("signed in", lambda: app.screen_is("app") and app.text("#profile-email") == PRINCIPAL[0])
        app.wait("required", lambda: "required" in app.text("#mfa-state"))
        assert app.js("return document.getElementById('mfa-off-form').hidden"), "no turning off while required"
        app.click("#signout")
        app.wait_screen("signin")
    finally:
        app.close()
    status, body = http("POST", f"{ARGS.server}/api/v1/auth/login", {"email": PRINCIPAL[0], "password": PRINCIPAL[1]})
    assert status == 401 and body["type"].endswith("/problems/mfa-required"), body
    app = App()
    try:
        app.sign_in("admin@avataradam.com", "Admin123!@#")
        app.click("#tab-users")
        reset = f'#users-body tr[data-email="{MANAGER[0]}"] button.reset-mfa'
        app.wait("the reset button", lambda: app.js(f"return !!document.querySelector({json.dumps(reset)})"))
        app.click(reset)
        app.wait("the message", lambda: "has been reset" in app.text("#app-message"))
        app.shot("13-reset-second-factor")
        status, body = http("POST", f"{ARGS.server}/api/v1/auth/login", {"email": MANAGER[0], "password": MANAGER[1]})
        assert status == 401 and body["type"].endswith("/problems/mfa-enrollment-required"), body
        app.click("#signout")
        app.wait_screen("signin")
    finally:
        app.close()


def test_forgot_password_mails_a_reset_link():
    app = App()
    try:
        app.wait_screen("signin")
        before = len(INBOX.to(MANAGER[0]))
        app.js("document.getElementById('email').value = ''")
        app.click("#forgot-password")
        app.wait("asked for the email", lambda: "Type your email" in app.text("#signin-error"))
        app.type("#email", MANAGER[0])
        app.click("#forgot-password")
        app.wait("the answer", lambda: "check your mail" in app.text("#forgot-done"))
        app.shot("15-forgot-password")
        app.wait("the mail", lambda: len(INBOX.to(MANAGER[0])) > before)
        text = INBOX.to(MANAGER[0])[-1].get_body(preferencelist=("plain",)).get_content()
        link = re.search(r"http://\S+/reset/adam_rst_[A-Za-z0-9_-]+", text).group(0)
        assert link.startswith(ARGS.server), link
        with urllib.request.urlopen(link) as page:
            assert page.status == 200 and "Choose a new password" in page.read().decode(), "the link opens its page"
    finally:
        app.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def accept_invitation(link, password):
    """What the invitee's browser does with the link: opens the page, sends its form."""
    with urllib.request.urlopen(link) as page:
        cookie = page.headers["set-cookie"].split(";")[0]
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.read().decode()).group(1)
    form = urllib.parse.urlencode({"csrf": csrf, "new_password": password, "confirm": password}).encode()
    request = urllib.request.Request(link, data=form, method="POST")
    request.add_header("cookie", cookie)
    try:
        urllib.request.build_opener(NoRedirect).open(request)
        raise AssertionError("accepting should send the browser to /account")
    except urllib.error.HTTPError as e:
        assert e.code == 303 and e.headers["location"] == "/account", (e.code, e.headers)


def invitation_link(address, count=1):
    text = INBOX.to(address)[count - 1].get_body(preferencelist=("plain",)).get_content()
    return re.search(r"http://\S+/invite/adam_inv_[A-Za-z0-9_-]+", text).group(0)


def link_status(link):
    try:
        with urllib.request.urlopen(link) as page:
            return page.status
    except urllib.error.HTTPError as e:
        return e.code


ADMIN = ("admin@avataradam.com", "Admin123!@#")


def test_invitations_in_the_users_tab():
    # A dealership that requires no second factor (Premium Auto does by now).
    status, admin = http("POST", f"{ARGS.server}/api/v1/auth/login", {"email": ADMIN[0], "password": ADMIN[1]})
    assert status == 200, admin
    status, northside = http("POST", f"{ARGS.server}/api/v1/dealerships/", {"name": "Northside Motors"}, token=admin["access_token"])
    assert status == 201, northside
    app = App()
    try:
        app.sign_in(*ADMIN)
        app.click("#tab-users")
        app.wait("the invitations card", lambda: app.screen_is("invitations-card"))
        row = 'tr[data-email="%s"]'
        pick = "document.getElementById('invite-dealership').value = arguments[0]"
        app.wait("the dealerships", lambda: app.js("return document.querySelectorAll('#invite-dealership option').length") >= 2)
        # Invite Omar; the mail arrives; he chooses a password in the browser and signs in here.
        app.type("#invite-name", "Omar Newhire")
        app.type("#invite-email", "omar@premiumauto.com")
        app.js(pick, northside["id"])
        app.click("#invite-submit")
        app.wait("the message", lambda: "Invitation mailed to omar@premiumauto.com" in app.text("#app-message"))
        app.wait("the pending row", lambda: app.js(f"return !!document.querySelector('#invitations-body {row % 'omar@premiumauto.com'}')"))
        app.wait("the mail", lambda: INBOX.to("omar@premiumauto.com"))
        # The row's mail state follows the outbox without a reload: queued, then sent.
        app.wait("the row's mail sent", lambda: "Sent" in app.text(f"#invitations-body {row % 'omar@premiumauto.com'}"))
        # A second invitation, resent (the first link stops working) and then revoked.
        app.type("#invite-name", "Rita Maybe")
        app.type("#invite-email", "rita@premiumauto.com")
        app.js(pick, northside["id"])
        app.click("#invite-submit")
        app.wait("the mail", lambda: INBOX.to("rita@premiumauto.com"))
        app.wait("the row", lambda: app.js(f"return !!document.querySelector('#invitations-body {row % 'rita@premiumauto.com'}')"))
        app.js("document.getElementById('invite-form').scrollIntoView()")
        app.shot("16-invitations")
        first = invitation_link("rita@premiumauto.com")
        app.click(f"#invitations-body {row % 'rita@premiumauto.com'} button.resend-invitation")
        app.wait("the new mail", lambda: len(INBOX.to("rita@premiumauto.com")) == 2)
        second = invitation_link("rita@premiumauto.com", 2)
        assert link_status(first) == 410 and link_status(second) == 200, "the resent link replaced the old"
        app.click(f"#invitations-body {row % 'rita@premiumauto.com'} button.revoke-invitation")
        app.wait("the row gone", lambda: app.js(f"return !document.querySelector('#invitations-body {row % 'rita@premiumauto.com'}')"))
        assert link_status(second) == 410, "a revoked invitation's link works no more"
        app.no_tokens_in_page()
        app.click("#signout")
        app.wait_screen("signin")

        accept_invitation(invitation_link("omar@premiumauto.com"), "Omar-chosen-passphrase-1")
        app.sign_in("omar@premiumauto.com", "Omar-chosen-passphrase-1")
        app.wait("the profile", lambda: "omar@premiumauto.com" in app.text("#profile-email"))
        assert keyring_entries() == [f"omar@premiumauto.com @ {ARGS.server}"], keyring_entries()
        app.click("#signout")
        app.wait_screen("signin")
    finally:
        app.close()


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--driver", required=True)
    p.add_argument("--app", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--shots", required=True)
    p.add_argument("--smtp-port", type=int, required=True)
    p.add_argument("--browser-mode", required=True)
    ARGS = p.parse_args()
    smtp = Controller(INBOX, hostname="127.0.0.1", port=ARGS.smtp_port)
    smtp.start()
    for name, fn in [
        ("sign in (wrong password first), see the profile, entry in the keyring", test_sign_in_and_profile),
        ("restart: signed in silently", test_restart_signs_in_silently),
        ("sign out removes the keyring entry", test_sign_out_removes_the_keyring_entry),
        ("sign in with the browser (RFC 8252): back at the app, keyring, restart, sign out", test_sign_in_with_the_browser),
        ("a passkey through the browser: added on /account, signs in to the app alone, listed and removed on the profile", test_passkey_through_the_browser),
        ("revoked on the server: sign-in screen, entry removed", test_revoked_session_lands_on_sign_in),
        ("my sessions: another device listed and signed out", test_my_sessions_and_signing_out_another_device),
        ("a principal creates an F&I manager, signs them out everywhere; sign out everywhere; a password set for her is changed at sign-in", test_principal_creates_an_fi_manager),
        ("the Activity tab: newest first, pages, filters by action, person and date", test_activity_tab_filters_and_pages),
        ("second factor: enrolled on the profile, then a code and a recovery code at sign-in", test_second_factor_on_the_profile_and_at_sign_in),
        ("second factor: required by the dealership (enrollment at sign-in), reset by an admin", test_required_by_the_dealership_then_reset_by_an_admin),
        ("forgot password: the request is sent and the mail with its link arrives", test_forgot_password_mails_a_reset_link),
        ("invitations: an admin invites (mailed), resends and revokes; the invitee sets a password in the browser and signs in", test_invitations_in_the_users_tab),
    ]:
        check(name, fn)
    smtp.stop()
    failed = sum(1 for _, e in RESULTS if e)
    print(f"{len(RESULTS) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
