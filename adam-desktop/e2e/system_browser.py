#!/usr/bin/env python3
"""The "system browser" of the end-to-end test: the app opens it through `$BROWSER` with Adam's
authorization URL (RFC 8252). It is Debian's chromium, headless, driven by WebDriver: it signs
in on Adam's page with the account in `ADAM_E2E_BROWSER_LOGIN` (`email:password`) and follows
the redirect back to the app's loopback port, as a person in a browser would.

    system_browser.py URL
"""
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

url = sys.argv[1]
email, password = os.environ["ADAM_E2E_BROWSER_LOGIN"].split(":", 1)
options = Options()
options.binary_location = "/usr/bin/chromium"
for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
    options.add_argument(flag)
driver = webdriver.Chrome(options=options, service=Service(executable_path="/usr/bin/chromedriver"))
try:
    driver.get(url)
    deadline = time.time() + 30
    while not driver.find_elements(By.ID, "password"):
        assert time.time() < deadline, f"no sign-in page at {driver.current_url}"
        time.sleep(0.1)
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password, Keys.ENTER)
    deadline = time.time() + 30
    while not driver.current_url.startswith("http://127.0.0.1:") or "/callback" not in driver.current_url:
        assert time.time() < deadline, f"not back at the app: {driver.current_url}"
        time.sleep(0.1)
    print("system browser: signed in and back at the app", file=sys.stderr)
finally:
    driver.quit()
