"""The page objects of the current run, so any page can link or switch to another by its url path."""
PAGES: dict = {}


def page(url_path: str):
    return PAGES[url_path]
