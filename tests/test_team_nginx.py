"""A real nginx with basic auth in front of Streamlit passes the user in X-Remote-User (auth mode header), and a
browser acts as two users and an admin: each sees the owner, user B cannot cancel A's job (disabled, with the
reason) nor through the CLI as the OS user tdub, the admin can, and a request straight to Streamlit gets only the
refusal page. Screenshots go to $TUNEDECK_SCREENSHOTS (default: the test's tmp folder)."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

import pytest

from jobs import benchmarks_requests as br
from jobs.atomic import atomic_write_json
from jobs.spec import validate
from jobs.state import create_run, new_job_id, read_state, update_state
from jobs.status import JobStatus
from jobs.team import audit, auth
from spooler.__main__ import main as spooler_main
from tests.benchmark_data import register_arith
from tests.conftest import demo_workspace
from tests.helpers import CHROMIUM, chromium_browser, free_port, screenshots, streamlit_server
from tests.helpers import as_user as _as_user
from tests.helpers import os_user_named as _user
from tests.spool_helpers import wait_for

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = [pytest.mark.skipif(not os.path.exists(NGINX), reason="nginx is not installed (apt-get install -y nginx)"),
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium is not installed")]
USERS = {"tdua": "pw-a", "tdub": "pw-b", "tdadmin": "pw-admin"}

# The configuration docs/operations-team.md shows, with this test's ports and folders filled in.
NGINX_CONF = """
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    server {{
        listen 127.0.0.1:{port};
        auth_basic "Tunedeck";
        auth_basic_user_file {d}/htpasswd;
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Remote-User $remote_user;   # replaces any X-Remote-User the client sent
            proxy_set_header Upgrade $http_upgrade;        # Streamlit talks over a websocket
            proxy_set_header Connection $connection_upgrade;
            proxy_read_timeout 1d;
        }}
    }}
}}
"""


def _job(ws, name: str, owner: str) -> str:
    v = validate({"name": name, "method": "sft", "base_model": "tiny-demo", "dataset": "demo-instruct",
                  "owner": owner, "params": {"max_steps": 2}}, ws)
    assert v.ok, v.errors
    job = new_job_id()
    create_run(ws, job, v.spec)
    return job


@pytest.fixture(scope="module")
def site(demo_home):
    if os.geteuid() != 0:
        pytest.skip("acting as OS users (the CLI check) needs root")
    tdub = _user("tdub")
    old_umask = os.umask(0)
    top = Path(tempfile.mkdtemp(prefix="tunedeck-nginx-"))
    ws = demo_workspace(top / "ws", demo_home)
    atomic_write_json(ws.home / "config.json", {"auth": {
        "mode": "header", "header": "X-Remote-User", "admins": ["tdadmin"],
        "service_accounts": [auth.os_user()]}})  # the dashboard's own OS user submits for the signed-in user
    audit.path(ws).touch()
    subprocess.run(["chmod", "-R", "a+rwX", str(top)], check=True)
    d = top / "nginx"
    d.mkdir()
    lines = [f"{u}:{subprocess.run(['openssl', 'passwd', '-apr1', p], capture_output=True, text=True, check=True).stdout.strip()}"
             for u, p in USERS.items()]
    (d / "htpasswd").write_text("\n".join(lines) + "\n")
    st_port, port = free_port(), free_port()
    (d / "nginx.conf").write_text(NGINX_CONF.format(d=d, port=port, upstream=st_port))
    subprocess.run(["chmod", "-R", "a+rX", str(d)], check=True)
    log = open(top / "nginx.log", "w")
    ngx = subprocess.Popen([NGINX, "-p", str(d), "-c", str(d / "nginx.conf")], stdout=log, stderr=subprocess.STDOUT)
    try:
        with streamlit_server(ws.home, top / "dashboard.log", port=st_port) as direct, chromium_browser() as browser:
            yield {"ws": ws, "proxy": f"http://127.0.0.1:{port}", "direct": direct, "browser": browser,
                   "shots": screenshots(top), "tdub": tdub}
    finally:
        ngx.terminate()
        ngx.wait(10)
        log.close()
        os.umask(old_umask)
    shutil.rmtree(top, ignore_errors=True)


def _page(site, user: str | None, path: str, wait_text: str, lang: str = "en"):
    ctx = site["browser"].new_context(viewport={"width": 1920, "height": 1000},  # the Owner column follows the watched ones
                                      http_credentials={"username": user, "password": USERS[user]} if user else None)
    page = ctx.new_page()
    base = site["proxy"] if user else site["direct"]
    page.goto(base + path + ("&" if "?" in path else "?") + f"lang={lang}")
    try:
        page.get_by_text(wait_text).first.wait_for(timeout=60000, state="attached")
    except Exception:
        page.screenshot(path=str(site["shots"] / "failed.png"), full_page=True)  # what the page showed instead
        raise
    page.wait_for_timeout(800)
    return page


def test_two_users_and_an_admin_through_nginx(site):
    ws, shots = site["ws"], site["shots"]
    job_a, job_b = _job(ws, "run-of-a", "tdua"), _job(ws, "run-of-b", "tdub")

    # Each user signs in through nginx, sees who they are, and their own jobs ("Mine" is on).
    for user, mine, other in (("tdua", "run-of-a", "run-of-b"), ("tdub", "run-of-b", "run-of-a")):
        page = _page(site, user, "/", mine)
        assert page.get_by_text(f"Signed in as {user}").count() == 1
        rows = page.locator('[data-testid="stDataFrame"] [role="row"]').all()[1:]
        texts = [r.text_content() for r in rows]
        assert any(mine in t and user in t for t in texts), texts  # the Owner column
        assert not any(other in t for t in texts), texts
        if user == "tdua":
            page.screenshot(path=str(shots / "list-owners-en.png"), full_page=True)
        page.context.close()
    page = _page(site, "tdadmin", "/", "我的", lang="zh")  # the admin owns no job: "Mine" off shows every job's owner
    page.get_by_text("我的").first.click()
    page.get_by_text("run-of-a").first.wait_for(timeout=30000, state="attached")
    page.wait_for_timeout(800)
    texts = [r.text_content() for r in page.locator('[data-testid="stDataFrame"] [role="row"]').all()[1:]]
    assert any("run-of-a" in t and "tdua" in t for t in texts) and any("run-of-b" in t and "tdub" in t for t in texts)
    page.screenshot(path=str(shots / "list-owners-zh.png"), full_page=True)
    page.context.close()

    # User B on A's job: Cancel is disabled, with the reason; the owner is shown.
    for lang in ("en", "zh"):
        page = _page(site, "tdub", f"/training?id={job_a}", "run-of-a", lang=lang)
        cancel = page.get_by_role("button", name="Cancel" if lang == "en" else "取消").first
        assert cancel.is_disabled()
        reason = "only tdua or an admin may cancel this job" if lang == "en" else "只有 tdua 或管理员可以取消此任务"
        assert page.get_by_text(reason).count() >= 1
        page.screenshot(path=str(shots / f"refused-cancel-{lang}.png"), full_page=True)
        page.context.close()
    assert read_state(ws.run_dir(job_a))["status"] == "queued"

    # ... nor through the CLI, as the OS user tdub: exit 1 with the reason, audited.
    code = _as_user(site["tdub"], lambda: spooler_main(["cancel", job_a, "--home", str(ws.home)]))
    assert code == 1 and read_state(ws.run_dir(job_a))["status"] == "queued"

    # The admin can.
    page = _page(site, "tdadmin", f"/training?id={job_a}", "run-of-a")
    page.get_by_role("button", name="Cancel").first.click()
    page.get_by_role("button", name="Yes, cancel").click()
    wait_for(lambda: read_state(ws.run_dir(job_a))["status"] == "cancelled", 30)
    page.context.close()
    trail = [(r["who"], r["from"], r["action"], r["allowed"]) for r in audit.recent(ws, job=job_a)]
    assert ("tdub", "cli", "cancel", False) in trail and ("tdadmin", "dashboard", "cancel", True) in trail

    # Settings: the admin sees the webhooks and the audit trail; a user only the reason.
    for lang in ("en", "zh"):
        page = _page(site, "tdadmin", "/settings", "tdadmin")
        if lang == "zh":
            page.goto(site["proxy"] + "/settings?lang=zh")
            page.get_by_text("审计记录").first.wait_for(timeout=60000)
        else:
            page.get_by_text("Audit trail").first.wait_for(timeout=60000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(shots / f"settings-admin-{lang}.png"), full_page=True)
        page.context.close()
        page = _page(site, "tdub", "/settings", "管理员" if lang == "zh" else "Only an admin may change these settings",
                     lang=lang)
        assert page.get_by_text("Audit trail").count() == 0
        page.screenshot(path=str(shots / f"settings-user-{lang}.png"), full_page=True)
        page.context.close()
    assert job_b  # B's job is untouched
    assert read_state(ws.run_dir(job_b))["status"] == "queued"


def test_a_request_straight_to_streamlit_gets_only_the_refusal(site):
    _job(site["ws"], "hidden-run", "tdua")
    page = _page(site, None, "/", "Sign-in required")
    assert page.get_by_text("X-Remote-User").count() >= 1
    assert page.get_by_text("hidden-run").count() == 0
    assert page.locator('[data-testid="stDataFrame"]').count() == 0
    page.screenshot(path=str(site["shots"] / "direct-refused-en.png"), full_page=True)
    page.context.close()


def test_nginx_refuses_a_wrong_password(site):
    req = urllib.request.Request(site["proxy"] + "/", headers={"Authorization": "Basic dGR1YTp3cm9uZw=="})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 401


def test_only_the_owner_or_an_admin_may_cancel_a_waiting_benchmark_request(site, tmp_path):
    """Details → Evaluation of A's finished run with a benchmark request waiting for a slot: B sees Cancel disabled
    with the reason beside it (English and 中文); A cancels it, audited, and the picker is back."""
    ws, shots = site["ws"], site["shots"]
    register_arith(ws, tmp_path)
    job = _job(ws, "bench-of-a", "tdua")
    adapter = ws.run_dir(job) / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    update_state(ws.run_dir(job), status=JobStatus.SUCCEEDED)
    br.submit_benchmark(ws, job, ["arith-mc"])
    for lang, tab, cancel, reason in (
            ("en", "Evaluation", "Cancel this request", "only tdua or an admin may benchmark this job"),
            ("zh", "评估", "取消此请求", "tdua")):
        page = _page(site, "tdub", f"/training?id={job}", "bench-of-a", lang=lang)
        page.get_by_role("tab", name=tab).click()
        button = page.get_by_role("button", name=cancel)
        button.wait_for(timeout=30000)
        assert button.is_disabled()
        assert page.get_by_text("🔒").filter(has_text=reason).count() >= 1
        page.screenshot(path=str(shots / f"refused-benchmark-cancel-{lang}.png"), full_page=True)
        page.context.close()
    assert br.benchmark_state(ws.run_dir(job))["status"] == "waiting"

    page = _page(site, "tdua", f"/training?id={job}", "bench-of-a")
    page.get_by_role("tab", name="Evaluation").click()
    page.get_by_role("button", name="Cancel this request").click()
    wait_for(lambda: br.benchmark_state(ws.run_dir(job))["status"] == "cancelled", 30)
    page.get_by_text("cancelled before a slot took them").wait_for(timeout=30000)
    page.get_by_role("button", name="Queue benchmarks").wait_for(timeout=30000)  # the picker is back
    page.screenshot(path=str(shots / "benchmark-cancelled-by-owner-en.png"), full_page=True)
    page.context.close()
    assert ("tdua", "dashboard", "benchmark", True, "cancel") in [
        (r["who"], r["from"], r["action"], r["allowed"], r.get("detail")) for r in audit.recent(ws, job=job)]
