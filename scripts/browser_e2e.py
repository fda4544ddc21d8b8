"""The staff lifecycle by mail, end to end: a real adam-server (SQLite, then PostgreSQL) sends
through a real SMTP server (aiosmtpd, in this process) and the links are followed in a real
browser (Debian's chromium, headless, through chromedriver, with JavaScript off).

    python browser_e2e.py ADAM_SERVER_BINARY

Checks: an invitation mailed (text and HTML parts), opened twice (a mail scanner spends
nothing), accepted with the keyboard only, the invitee signed in to /account; /signin with a
password, then with an enrolled second factor (enrollment where the dealership requires it,
the recovery codes shown once), signing out one and every session; a spent and a revoked link
say so; a password reset mailed and completed (the old password stops working); no mail for an
unknown email; a form posted without its anti-forgery token is refused and changes nothing;
the pages' security headers; OpenID Connect single sign-on into two applications (enrollment,
consent, prompt=login with a recovery code) ending in back-channel logout of both; passkeys
(chromium's virtual authenticator, JavaScript on): added on /account, signing in on /signin
without an email and to an application. On PostgreSQL: two servers on one database send each mail exactly
once, and a server stopped with mail still queued sends it after it starts again.
"""

import base64
import email
import email.policy
import hashlib
import hmac
import struct
import http.cookiejar
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from aiosmtpd.controller import Controller
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.keys import Keys
from virtual_authenticator import add_platform_authenticator

SERVER = sys.argv[1]
PG_ADMIN = os.environ.get("ADAM_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
WORK = tempfile.mkdtemp(prefix="adam-browser-e2e-")
ADMIN = ("admin@avataradam.com", "Admin123!@#")
PRINCIPAL = ("principal@premiumauto.com", "Principal123!")
MANAGER = ("manager@premiumauto.com", "Manager123!")
# Where to save screenshots of the pages (the README's, in docs/), when set.
SHOTS = os.environ.get("ADAM_SCREENSHOTS")
LINK = re.compile(r"https?://[^\s\"<>]+/(?:invite|reset)/adam_(?:inv|rst)_[A-Za-z0-9_-]+")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until(what, check, timeout=30.0):
    """Polls `check` until it returns something true, or fails naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


class Inbox:
    """What the SMTP server received, by recipient."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.messages.append((rcpt.lower(), message))
        return "250 OK"

    def to(self, address):
        with self.lock:
            return [m for (r, m) in self.messages if r == address.lower()]

    def wait(self, address, count=1, timeout=30.0):
        return until(f"{count} mail(s) to {address}", lambda: len(self.to(address)) >= count and self.to(address), timeout)


def parts(message):
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    return text, html


def link_in(message):
    text, html = parts(message)
    found = LINK.search(text)
    assert found, text
    assert found.group(0) in html, "the HTML part holds the same link"
    return found.group(0)


class Server:
    """One adam-server process."""

    def __init__(self, database_url, smtp_port, name, port=None):
        self.port = port or free_port()
        self.base = f"http://localhost:{self.port}"
        self.log = open(os.path.join(WORK, f"{name}.log"), "ab")
        self.env = dict(
            os.environ,
            DATABASE_URL=database_url,
            SECRET_KEY="browser e2e secret key, at least thirty-two bytes",
            PUBLIC_URL=self.base,
            HOST="127.0.0.1",
            PORT=str(self.port),
            SMTP_URL=f"smtp+plain://127.0.0.1:{smtp_port}",
            RUST_LOG="info",
        )
        self.process = None

    def start(self):
        self.process = subprocess.Popen([SERVER, "serve", "--seed"], env=self.env, stdout=self.log, stderr=self.log)
        until(f"{self.base}/ready", self.ready)
        return self

    def ready(self):
        try:
            return urllib.request.urlopen(f"{self.base}/ready", timeout=1).status == 200
        except OSError:
            assert self.process.poll() is None, f"the server stopped: see {self.log.name}"
            return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None

    def call(self, method, path, body=None, token=None):
        request = urllib.request.Request(f"{self.base}/api/v1{path}", method=method)
        if body is not None:
            request.data = json.dumps(body).encode()
            request.add_header("content-type", "application/json")
        if token:
            request.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, json.loads(raw) if raw else None

    def login(self, who):
        status, body = self.call("POST", "/auth/login", {"email": who[0], "password": who[1]})
        return status, (body or {}).get("access_token")

    def token(self, who):
        status, token = self.login(who)
        assert status == 200, (who[0], status)
        return token

    def invite(self, token, address, role="fi_manager"):
        status, body = self.call(
            "POST", "/invitations", {"email": address, "full_name": "New Hire", "role": role}, token
        )
        assert status == 201, (status, body)
        assert body["mail_status"] == "queued" and "invite_url" not in body, body
        return body


def browser():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    # The pages need no JavaScript: run them without.
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    return webdriver.Chrome(options=options, service=Service(executable_path="/usr/bin/chromedriver"))


def scripted_browser():
    """A browser with JavaScript on (the passkey ceremony needs the WebAuthn API) and chromium's
    virtual authenticator: a platform authenticator with discoverable credentials and user
    verification, as a laptop's fingerprint reader."""
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path="/usr/bin/chromedriver"))
    add_platform_authenticator(driver)
    return driver


def fill_with_keyboard(driver, *values):
    """Types each value into the focused field and tabs on; Enter submits the form."""
    for i, value in enumerate(values):
        active = driver.switch_to.active_element
        active.send_keys(value, Keys.ENTER if i == len(values) - 1 else Keys.TAB)


def shot(driver, name):
    if SHOTS:
        driver.set_window_size(720, 900 if name in ("enroll", "account", "consent") else 640)
        driver.save_screenshot(os.path.join(SHOTS, f"page-{name}.png"))


def heading(driver):
    try:
        return driver.find_element(By.TAG_NAME, "h1").text
    except WebDriverException:  # gone, stale, or a page on its way
        return ""  # the next page is on its way


def totp(key, at=None):
    """RFC 6238: SHA-1, 6 digits, 30 s, of a base32 key."""
    secret = base64.b32decode(key + "=" * (-len(key) % 8))
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(secret, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def text_of(driver, element_id):
    try:
        return driver.find_element(By.ID, element_id).text
    except WebDriverException:  # gone, stale, or a page on its way
        return ""


def press(driver, element_id):
    driver.find_element(By.ID, element_id).click()


def session_cookie(driver):
    found = [c for c in driver.get_cookies() if c["name"] == "__Host-adam_session"]
    return found[0] if found else None


def account_page(server, driver, email):
    """Waits for /account showing `email`, and checks the session cookie's attributes."""
    until("the account page", lambda: heading(driver) == "Your account" and text_of(driver, "who-email") == email)
    cookie = session_cookie(driver)
    assert cookie and cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax", cookie
    assert cookie["path"] == "/" and not cookie.get("domain", "").startswith("."), cookie
    assert driver.current_url == f"{server.base}/account", driver.current_url


def sign_out(driver, button="sign-out"):
    press(driver, button)
    until("the sign-in page", lambda: heading(driver) == "Sign in")
    assert session_cookie(driver) is None, "the session cookie is gone"


def signin_pages(server, inbox, driver, engine):
    """/signin: a wrong password, a password, and, in a dealership that requires a second
    factor, an invitee who enrolls on the page and later signs in with a code."""
    admin = server.token(ADMIN)
    driver.get(f"{server.base}/account")
    until("the sign-in page", lambda: heading(driver) == "Sign in")
    assert driver.switch_to.active_element.get_attribute("id") == "email"
    manager = (MANAGER[0], "Reset-Passw0rd-2")  # as the reset in `lifecycle` left it
    fill_with_keyboard(driver, MANAGER[0], "not the password")
    until("the one message", lambda: "Incorrect email or password" in text_of(driver, "form-error"))
    shot(driver, "signin")
    driver.find_element(By.ID, "password").send_keys(manager[1], Keys.ENTER)
    account_page(server, driver, MANAGER[0])
    shot(driver, "account")
    token = server.token(manager)

    def browser_sessions():
        status, listed = server.call("GET", "/auth/sessions", token=token)
        assert status == 200, listed
        return [s for s in listed["items"] if "Chrome" in (s.get("user_agent") or "")]

    assert len(browser_sessions()) == 1, "the browser's session is an ordinary session"
    sign_out(driver)
    assert browser_sessions() == [], "signing out ended it"

    status, secure = server.call("POST", "/dealerships/", {"name": f"Secure Motors {engine}"}, admin)
    assert status == 201, secure
    status, _ = server.call("PATCH", f"/dealerships/{secure['id']}", {"mfa_required": True}, admin)
    assert status == 200
    invitee = f"careful.{engine}@securemotors.com"
    status, made = server.call(
        "POST",
        "/invitations",
        {"email": invitee, "full_name": "Careful Hire", "role": "fi_manager", "dealership_id": secure["id"]},
        admin,
    )
    assert status == 201, made
    driver.get(link_in(inbox.wait(invitee)[0]))
    fill_with_keyboard(driver, "Careful-Passw0rd-1", "Careful-Passw0rd-1")
    until("the enrollment step", lambda: heading(driver) == "Set up your second factor")
    key = text_of(driver, "totp-key")
    shot(driver, "enroll")
    driver.find_element(By.ID, "code").send_keys(totp(key), Keys.ENTER)
    until("the recovery codes", lambda: len(driver.find_elements(By.CSS_SELECTOR, "#recovery-codes li")) == 10)
    press_link = driver.find_element(By.LINK_TEXT, "Continue to your account")
    press_link.click()
    account_page(server, driver, invitee)
    assert text_of(driver, "second-factor").startswith("On"), text_of(driver, "second-factor")
    sign_out(driver, "sign-out-everywhere")
    # Later: password, then the code (the next period's, so it is not the one just used).
    driver.get(f"{server.base}/signin")
    fill_with_keyboard(driver, invitee, "Careful-Passw0rd-1")
    until("the code step", lambda: driver.find_elements(By.ID, "code"))
    driver.find_element(By.ID, "code").send_keys(totp(key, time.time() + 30), Keys.ENTER)
    account_page(server, driver, invitee)
    sign_out(driver)
    print(f"browser e2e ({engine}): sign-in, second factor enrolled and used, sign-out: ok")


class RelyingParty:
    """A web application that signs staff in through Adam (a confidential client): its redirect
    URI exchanges the code at the token endpoint; its back-channel URI takes logout tokens."""

    def __init__(self, server, client_id, first_party):
        import http.server

        self.server, self.client_id = server, client_id
        self.signed_in, self.logged_out, self.verifier = None, [], None
        party = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                if url.path != "/cb":  # the browser's favicon
                    self.send_response(404)
                    self.end_headers()
                    return
                query = dict(urllib.parse.parse_qsl(url.query))
                party.signed_in = party.exchange(query)
                body = f"<h1>{party.client_id}</h1><p id='who'>{party.signed_in['email']}</p>".encode()
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["content-length"])).decode()))
                party.logged_out.append(form["logout_token"])
                self.send_response(200)
                self.end_headers()

        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        admin = server.token(ADMIN)
        status, made = server.call(
            "POST",
            "/oauth-clients",
            {
                "client_id": client_id,
                "name": client_id.replace("-", " ").title(),
                "redirect_uris": [f"{self.base}/cb"],
                "backchannel_logout_uri": f"{self.base}/bc",
                "first_party": first_party,
            },
            admin,
        )
        assert status == 201, made
        self.secret = made["client_secret"]

    def authorize_url(self, **extra):
        self.verifier = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(self.verifier.encode()).digest()).rstrip(b"=").decode()
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": f"{self.base}/cb",
            "scope": "openid email profile",
            "state": "s-" + self.client_id,
            "nonce": "n-" + self.client_id,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        return f"{self.server.base}/oauth2/authorize?{urllib.parse.urlencode(query)}"

    def exchange(self, query):
        assert query.get("state") == "s-" + self.client_id and query.get("iss") == self.server.base, query
        request = urllib.request.Request(
            f"{self.server.base}/oauth2/token",
            data=urllib.parse.urlencode(
                {
                    "grant_type": "authorization_code",
                    "code": query["code"],
                    "redirect_uri": f"{self.base}/cb",
                    "code_verifier": self.verifier,
                }
            ).encode(),
        )
        basic = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        request.add_header("authorization", f"Basic {basic}")
        with urllib.request.urlopen(request, timeout=30) as r:
            tokens = json.loads(r.read())
        claims = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[1] + "=="))
        assert claims["nonce"] == "n-" + self.client_id and claims["aud"] == self.client_id, claims
        return claims

    def stop(self):
        self.http.shutdown()


def single_sign_on(server, driver, engine):
    """OpenID Connect in a real browser: a user who must use a second factor opens the portal,
    signs in at Adam (enrolling on the way), allows the portal (consent), opens the analytics app
    without a password, is asked again with prompt=login (a recovery code as the second step),
    and signing out everywhere at Adam reaches both applications by back-channel logout."""
    admin = server.token(ADMIN)
    status, secure = server.call("POST", "/dealerships/", {"name": f"SSO Motors {engine}"}, admin)
    assert status == 201, secure
    status, _ = server.call("PATCH", f"/dealerships/{secure['id']}", {"mfa_required": True}, admin)
    assert status == 200
    who = (f"sso.{engine}@ssomotors.com", "Sso-Passw0rd-1")
    status, made = server.call(
        "POST",
        "/users/",
        {"email": who[0], "password": who[1], "full_name": "Single Sign", "role": "fi_manager", "dealership_id": secure["id"]},
        admin,
    )
    assert status == 201, made
    portal = RelyingParty(server, f"training-portal-{engine}", first_party=False)
    analytics = RelyingParty(server, f"analytics-{engine}", first_party=True)
    try:
        driver.get(portal.authorize_url())
        until("the sign-in page", lambda: heading(driver) == "Sign in")
        fill_with_keyboard(driver, who[0], who[1])
        until("the enrollment step", lambda: heading(driver) == "Set up your second factor")
        key = text_of(driver, "totp-key")
        driver.find_element(By.ID, "code").send_keys(totp(key), Keys.ENTER)
        until("the recovery codes", lambda: len(driver.find_elements(By.CSS_SELECTOR, "#recovery-codes li")) == 10)
        codes = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#recovery-codes li")]
        driver.find_element(By.LINK_TEXT, "Continue to the application").click()
        until("the consent page", lambda: heading(driver) == "Allow this application?")
        assert "your email address" in driver.find_element(By.ID, "shares").text
        shot(driver, "consent")
        press(driver, "allow")
        until("the portal", lambda: text_of(driver, "who") == who[0])
        assert portal.signed_in["amr"] == ["pwd", "otp"], portal.signed_in

        # Single sign-on: the second application without a password or a question.
        driver.get(analytics.authorize_url())
        until("the analytics app", lambda: text_of(driver, "who") == who[0])
        assert analytics.signed_in["sid"] == portal.signed_in["sid"], "one Adam session"

        # prompt=login: the password again, a recovery code as the second step, the same session.
        driver.get(analytics.authorize_url(prompt="login"))
        until("the sign-in page", lambda: heading(driver) == "Sign in")
        fill_with_keyboard(driver, who[0], who[1])
        until("the code step", lambda: driver.find_elements(By.ID, "code"))
        driver.find_element(By.ID, "code").send_keys(codes[0], Keys.ENTER)
        until("the analytics app", lambda: text_of(driver, "who") == who[0])
        assert analytics.signed_in["sid"] == portal.signed_in["sid"], "re-authenticated in the same session"
        assert analytics.signed_in["auth_time"] >= portal.signed_in["auth_time"]

        # Signing out everywhere at Adam signs the user out of both applications.
        driver.get(f"{server.base}/account")
        account_page(server, driver, who[0])
        sign_out(driver, "sign-out-everywhere")
        until("both back-channel logouts", lambda: portal.logged_out and analytics.logged_out)
        for party in (portal, analytics):
            header = json.loads(base64.urlsafe_b64decode(party.logged_out[0].split(".")[0] + "=="))
            claims = json.loads(base64.urlsafe_b64decode(party.logged_out[0].split(".")[1] + "=="))
            assert header["typ"] == "logout+jwt" and claims["sid"] == portal.signed_in["sid"], (header, claims)
    finally:
        portal.stop()
        analytics.stop()
    print(f"browser e2e ({engine}): single sign-on into two applications, prompt=login, back-channel logout: ok")

def passkeys(server, engine):
    """Passkeys in a real browser with chromium's virtual authenticator: a manager signs in with
    a password, adds a passkey on /account, signs out, signs in with the passkey alone (no email
    typed), and signs in to an OpenID Connect application with it (amr: a key and mfa)."""
    admin = server.token(ADMIN)
    who = (f"passkey.{engine}@premiumauto.com", "Passkey-Passw0rd-1")
    status, principal_me = server.call("GET", "/auth/me", token=server.token(PRINCIPAL))
    status, made = server.call(
        "POST",
        "/users/",
        {"email": who[0], "password": who[1], "full_name": "Pat Key", "role": "fi_manager", "dealership_id": principal_me["dealership_id"]},
        admin,
    )
    assert status == 201, made
    driver = scripted_browser()
    portal = RelyingParty(server, f"passkey-portal-{engine}", first_party=True)
    try:
        driver.get(f"{server.base}/signin")
        until("the sign-in page", lambda: heading(driver) == "Sign in")
        assert driver.find_elements(By.ID, "passkey-sign-in"), "the passkey button is offered"
        driver.find_element(By.ID, "email").send_keys(who[0])
        driver.find_element(By.ID, "password").send_keys(who[1], Keys.ENTER)
        account_page(server, driver, who[0])
        assert driver.find_elements(By.ID, "no-passkeys")
        name = driver.find_element(By.ID, "passkey-name")
        name.clear()
        name.send_keys("Work laptop")
        press(driver, "passkey-add")
        until("the new passkey listed", lambda: "Work laptop" in text_of(driver, "passkeys"))
        assert "passkey" in text_of(driver, "second-factor").lower(), text_of(driver, "second-factor")
        shot(driver, "passkeys")
        sign_out(driver)

        # The passkey alone: no email typed.
        press(driver, "passkey-sign-in")
        account_page(server, driver, who[0])
        assert "with a passkey" in driver.find_element(By.TAG_NAME, "table").text
        sign_out(driver)

        # An application: its sign-in page offers the passkey too.
        driver.get(portal.authorize_url())
        until("the sign-in page", lambda: heading(driver) == "Sign in")
        press(driver, "passkey-sign-in")
        until("the portal", lambda: text_of(driver, "who") == who[0])
        assert portal.signed_in["amr"][-1] == "mfa" and portal.signed_in["amr"][0] in ("hwk", "swk"), portal.signed_in

        # The password alone now leads to the second step, which the passkey can be.
        status, problem = server.call("POST", "/auth/login", {"email": who[0], "password": who[1]})
        assert status == 401 and problem["mfa_methods"] == ["passkey"], problem
        # The audit log has the passkey and names the method of its sign-ins.
        status, page = server.call("GET", "/audit-events/?action=passkey.registered&limit=5", token=admin)
        assert status == 200 and page["items"][0]["details"]["name"] == "Work laptop", page
        status, page = server.call("GET", "/audit-events/?action=login.succeeded&limit=5", token=admin)
        assert status == 200 and any(e["details"].get("method") == "passkey" for e in page["items"]), page
    finally:
        portal.stop()
        driver.quit()
    print(f"browser e2e ({engine}): a passkey added on /account signs in without an email, and to an application: ok")


def lifecycle(server, inbox, driver, engine):
    admin = server.token(PRINCIPAL)  # invites F&I managers to Premium Auto
    # An invitation: mailed once, opened twice, accepted with the keyboard, then signs in.
    invitee = f"new.hire.{engine}@premiumauto.com"
    made = server.invite(admin, invitee)
    [mail] = inbox.wait(invitee)
    text, html = parts(mail)
    assert "invited you" in text and "<a href=" in html, text
    link = link_in(mail)
    for _ in range(2):
        driver.get(link)
        assert heading(driver) == "Welcome to Adam", driver.page_source
    assert driver.switch_to.active_element.get_attribute("id") == "new_password", "the form starts focused"
    shot(driver, "invitation")
    fill_with_keyboard(driver, "Chosen-Passw0rd-1", "Chosen-Passw0rd-1")
    account_page(server, driver, invitee)
    sign_out(driver)
    assert server.login((invitee, "Chosen-Passw0rd-1"))[0] == 200
    status, listed = server.call("GET", "/invitations", token=admin)
    assert [i["status"] for i in listed["items"] if i["id"] == made["id"]] == ["accepted"], listed
    driver.get(link)
    assert "used already" in driver.page_source, driver.page_source
    shot(driver, "spent-link")
    # A revoked invitation's link says so.
    other = f"withdrawn.{engine}@premiumauto.com"
    withdrawn = server.invite(admin, other)
    [mail] = inbox.wait(other)
    assert server.call("DELETE", f"/invitations/{withdrawn['id']}", token=admin)[0] == 204
    driver.get(link_in(mail))
    assert "withdrawn" in driver.page_source, driver.page_source
    # A password reset: same answer for an unknown email, mail for the known one only.
    before = len(inbox.to(MANAGER[0]))
    assert server.call("POST", "/auth/password-reset", {"email": "nobody@premiumauto.com"})[0] == 202
    assert server.call("POST", "/auth/password-reset", {"email": MANAGER[0]})[0] == 202
    mail = inbox.wait(MANAGER[0], count=before + 1)[-1]
    driver.get(link_in(mail))
    assert heading(driver) == "Choose a new password", driver.page_source
    shot(driver, "reset")
    fill_with_keyboard(driver, "Reset-Passw0rd-2", "Reset-Passw0rd-2")
    account_page(server, driver, MANAGER[0])
    sign_out(driver)
    assert server.login(MANAGER)[0] == 401, "the old password no longer works"
    assert server.login((MANAGER[0], "Reset-Passw0rd-2"))[0] == 200
    assert not inbox.to("nobody@premiumauto.com"), "no mail for an unknown email"
    forged_form_changes_nothing(server, inbox)
    server.log.flush()
    with open(server.log.name, errors="replace") as f:
        log = f.read()
    assert "/reset/…" in log and "adam_rst_" not in log and "adam_inv_" not in log, "the log never holds a link"
    print(f"browser e2e ({engine}): invitation, revoked and spent links, reset, anti-forgery: ok")


def forged_form_changes_nothing(server, inbox):
    before = len(inbox.to(PRINCIPAL[0]))
    assert server.call("POST", "/auth/password-reset", {"email": PRINCIPAL[0]})[0] == 202
    mail = inbox.wait(PRINCIPAL[0], count=before + 1)[-1]
    link = link_in(mail)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(link) as page:
        headers = page.headers
        body = page.read().decode()
    csp = headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, csp
    assert headers["x-frame-options"] == "DENY" and headers["referrer-policy"] == "no-referrer", headers
    cookie = headers["set-cookie"]
    assert cookie.startswith("__Host-adam_csrf=") and "Secure" in cookie and "HttpOnly" in cookie, cookie
    csrf = re.search(r'name="csrf" value="([^"]+)"', body).group(1)
    cookie_value = cookie.split(";")[0].split("=", 1)[1]
    fields = {"new_password": "Forged-Passw0rd-3", "confirm": "Forged-Passw0rd-3"}
    attempts = [
        (fields, f"__Host-adam_csrf={cookie_value}"),  # no token in the form
        (dict(fields, csrf=csrf), None),  # no cookie (another site's form)
        (dict(fields, csrf="A" * 43), f"__Host-adam_csrf={cookie_value}"),  # a token of its own
    ]
    for form, cookie_header in attempts:
        request = urllib.request.Request(link, data=urllib.parse.urlencode(form).encode(), method="POST")
        request.add_header("content-type", "application/x-www-form-urlencoded")
        if cookie_header:
            request.add_header("cookie", cookie_header)
        try:
            urllib.request.urlopen(request)
            raise AssertionError("a forged form was accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 403, e.code
    assert server.login(PRINCIPAL)[0] == 200, "the password is unchanged"
    with opener.open(link) as page:
        assert page.status == 200, "the link still works"


def postgres_database():
    name = f"adam_browser_{uuid.uuid4().hex[:12]}"
    subprocess.run(["psql", "-q", PG_ADMIN, "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    return name, f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"


def drop_database(name):
    subprocess.run(["psql", "-q", PG_ADMIN, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)


def two_servers_send_each_mail_once(database_url, inbox):
    a = Server(database_url, inbox.port, "pg-a").start()
    b = Server(database_url, inbox.port, "pg-b").start()
    try:
        tokens = {a: a.token(PRINCIPAL), b: b.token(PRINCIPAL)}
        addresses = [f"crowd{n}@premiumauto.com" for n in range(12)]
        for n, address in enumerate(addresses):
            server = a if n % 2 == 0 else b
            server.invite(tokens[server], address)
        for address in addresses:
            inbox.wait(address)

        def all_sent():
            _, page = a.call("GET", "/invitations?limit=100", token=tokens[a])
            return all(i["mail_status"] == "sent" for i in page["items"] if i["email"] in addresses)

        until("every invitation marked sent", all_sent)
        counts = {address: len(inbox.to(address)) for address in addresses}
        assert set(counts.values()) == {1}, counts
    finally:
        a.stop()
        b.stop()
    print("browser e2e (postgres): two servers on one database sent each of 12 mails exactly once")


def a_restart_sends_what_was_queued(database_url):
    """The SMTP server is down when the mail is queued; the server stops; both come back; the
    mail arrives (after the first retry's minute of backoff)."""
    late = Inbox()
    port = free_port()
    server = Server(database_url, port, "pg-restart").start()
    try:
        address = "after.restart@premiumauto.com"
        server.invite(server.token(PRINCIPAL), address)
        until("the first attempt failed", lambda: b"sending a mail failed" in open(server.log.name, "rb").read())
        server.stop()
        controller = Controller(late, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            server.start()
            late.wait(address, timeout=120)
        finally:
            controller.stop()
    finally:
        server.stop()
    print("browser e2e (postgres): mail queued before a restart was sent after it")


def main():
    inbox = Inbox()
    inbox.port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    driver = browser()
    databases = []
    try:
        sqlite = Server(f"sqlite://{WORK}/adam.db", inbox.port, "sqlite").start()
        try:
            lifecycle(sqlite, inbox, driver, "sqlite")
            signin_pages(sqlite, inbox, driver, "sqlite")
            single_sign_on(sqlite, driver, "sqlite")
            passkeys(sqlite, "sqlite")
        finally:
            sqlite.stop()
        name, url = postgres_database()
        databases.append(name)
        pg = Server(url, inbox.port, "pg").start()
        try:
            lifecycle(pg, inbox, driver, "postgres")
            signin_pages(pg, inbox, driver, "postgres")
            single_sign_on(pg, driver, "postgres")
            passkeys(pg, "postgres")
        finally:
            pg.stop()
        name, url = postgres_database()
        databases.append(name)
        two_servers_send_each_mail_once(url, inbox)
        a_restart_sends_what_was_queued(url)
    except BaseException:
        for log in sorted(os.listdir(WORK)):
            if log.endswith(".log"):
                print(f"--- {log} (last lines)", file=sys.stderr)
                with open(os.path.join(WORK, log), errors="replace") as f:
                    print("".join(f.readlines()[-30:]), file=sys.stderr)
        raise
    finally:
        driver.quit()
        controller.stop()
        for name in databases:
            drop_database(name)
        # The SQLite database and the servers' logs (their last lines are printed above when
        # a step fails).
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
