"""chromium's virtual authenticator as the browser tests use it (scripts/browser_e2e.py and the
desktop app's system browser, adam-desktop/e2e/system_browser.py): a platform authenticator
with discoverable credentials and user verification, as a laptop's fingerprint reader."""

from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions


def add_platform_authenticator(driver):
    """Gives `driver` (a chromium WebDriver with JavaScript on) that authenticator."""
    driver.add_virtual_authenticator(
        VirtualAuthenticatorOptions(
            protocol=VirtualAuthenticatorOptions.Protocol.CTAP2,
            transport=VirtualAuthenticatorOptions.Transport.INTERNAL,
            has_resident_key=True,
            has_user_verification=True,
            is_user_verified=True,
        )
    )
