from test_security import *  # noqa
def test_dump(hostile_site):
    import urllib.request
    html = urllib.request.urlopen(hostile_site + "/stages/create").read().decode()
    import re
    for m in re.finditer(r"alert", html):
        print(html[max(0, m.start()-120): m.end()+40].replace("\n", " "))
        print("----")
