#!/usr/bin/env python3
"""The "system browser" of the end-to-end test: the app opens it through `$BROWSER` with Adam's
authorization URL (RFC 8252). It is Debian's chromium, headless, driven by WebDriver: it signs
in on Adam's page with the account in `ADAM_E2E_BROWSER_LOGIN` (`email:password`) and follows
the redirect back to the app's loopback port, as a person in a browser would.

When the file `ADAM_E2E_BROWSER_MODE` names says `passkey`, the browser has chromium's virtual
authenticator (a laptop's fingerprint reader): it first signs in on Adam's /signin with the
password, adds a passkey named "Desktop e2e" on /account and signs out; then, at the app's
authorization URL, it signs in with the passkey alone.

    system_browser.py URL
"""
import os
import sys
import time
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

# The authenticator the pages' own browser test uses (scripts/virtual_authenticator.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
from virtual_authenticator import add_platform_authenticator  # noqa: E402

url = sys.argv[1]
email, password = os.environ["ADAM_E2E_BROWSER_LOGIN"].split(":", 1)
options = Options()
options.binary_location = "/usr/bin/chromium"
for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
    options.add_argument(flag)
driver = webdriver.Chrome(options=options, service=Service(executable_path="/usr/bin/chromedriver"))


def wait_for(what, check):
    deadline = time.time() + 30
    while not check():
        assert time.time() < deadline, f"{what}: not at {driver.current_url}"
        time.sleep(0.1)


def sign_in_with_password():
    wait_for("the sign-in page", lambda: driver.find_elements(By.ID, "password"))
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password, Keys.ENTER)


def add_a_passkey():
    """Signs in on Adam's own pages, adds a passkey on /account, and signs out."""
    parts = urlsplit(url)
    driver.get(f"{parts.scheme}://{parts.netloc}/signin")
    sign_in_with_password()
    wait_for("the account page", lambda: driver.find_elements(By.ID, "passkey-add"))
    name = driver.find_element(By.ID, "passkey-name")
    name.clear()
    name.send_keys("Desktop e2e")
    driver.find_element(By.ID, "passkey-add").click()
    wait_for("the new passkey", lambda: any("Desktop e2e" in e.text for e in driver.find_elements(By.ID, "passkeys")))
    driver.find_element(By.ID, "sign-out").click()
    wait_for("signed out", lambda: driver.find_elements(By.ID, "passkey-sign-in"))
    print("system browser: a passkey added on /account", file=sys.stderr)


mode_file = os.environ.get("ADAM_E2E_BROWSER_MODE", "")
by_passkey = bool(mode_file) and os.path.exists(mode_file) and open(mode_file).read().strip() == "passkey"
try:
    if by_passkey:
        add_platform_authenticator(driver)
        add_a_passkey()
    driver.get(url)
    if by_passkey:
        wait_for("the sign-in page", lambda: driver.find_elements(By.ID, "passkey-sign-in"))
        driver.find_element(By.ID, "passkey-sign-in").click()
    else:
        sign_in_with_password()
    wait_for(
        "back at the app",
        lambda: driver.current_url.startswith("http://127.0.0.1:") and "/callback" in driver.current_url,
    )
    print("system browser: signed in and back at the app", file=sys.stderr)
finally:
    driver.quit()
