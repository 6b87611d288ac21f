"""Steps the browser tests share."""

from tests.conftest import PASSWORD


def sign_in(context, base, username):
    """A new page in `context`, signed in as `username` through the login form."""
    page = context.new_page()
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    return page
