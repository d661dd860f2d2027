"""heroku-postgresql on a real PostgreSQL: the cluster cedarbox manages, started by the tests.

The server runs with CEDARBOX_POSTGRES=auto and a data directory the `postgres` user can reach,
so the managed cluster lives in DATA_DIR/postgres (initdb + pg_ctl, as `postgres` when root).
"""

from __future__ import annotations

import json
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from gitserver.postgres import cluster_available
from tests.e2e.test_build_heroku24 import DJANGO_SETTINGS
from tests.e2e.test_runner import get, processes_from
from tests.support.gitutil import check, git, make_repo
from tests.support.server import APP_WHEELS, Server, find_links, run_cli, start_server

pytestmark = pytest.mark.skipif(
    not cluster_available(), reason="PostgreSQL's initdb/pg_ctl are not installed"
)

SETTINGS = (
    DJANGO_SETTINGS.replace(
        '["django.contrib.staticfiles"]', '["django.contrib.staticfiles", "notes"]'
    )
    + """
from urllib.parse import unquote, urlsplit
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
_db = urlsplit(os.environ.get("DATABASE_URL", "postgres://none:none@127.0.0.1:1/none"))
DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql", "NAME": _db.path[1:],
    "USER": unquote(_db.username), "PASSWORD": unquote(_db.password),
    "HOST": _db.hostname, "PORT": _db.port,
}}
"""
)

DJANGO_PG_APP = {
    "requirements.txt": "django\npsycopg2-binary\n",
    ".python-version": "3.12\n",
    "Procfile": "release: python manage.py migrate --noinput\n"
    "web: python manage.py runserver --noreload 0.0.0.0:$PORT\n",
    "manage.py": "import os, sys\nos.environ.setdefault('DJANGO_SETTINGS_MODULE', "
    "'mysite.settings')\nfrom django.core.management import execute_from_command_line\n"
    "execute_from_command_line(sys.argv)\n",
    "mysite/__init__.py": "",
    "mysite/settings.py": SETTINGS,
    "mysite/urls.py": """\
from django.http import HttpResponse
from django.urls import path
from notes.models import Note

def index(request):
    if "write" in request.GET:
        Note.objects.create(text=request.GET["write"])
    return HttpResponse(",".join(n.text for n in Note.objects.order_by("id")))

urlpatterns = [path("", index)]
""",
    "notes/__init__.py": "",
    "notes/models.py": "from django.db import models\n\n"
    "class Note(models.Model):\n    text = models.CharField(max_length=100)\n",
    "notes/migrations/__init__.py": "",
    "notes/migrations/0001_initial.py": """\
from django.db import migrations, models

class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [migrations.CreateModel(name="Note", fields=[
        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
        ("text", models.CharField(max_length=100)),
    ])]
""",
    "static/site.css": "body { color: green }\n",
}


@pytest.fixture
def pg_server(wheelhouse: Path) -> Iterator[Server]:
    # Not tmp_path: pytest makes it 0700, and the `postgres` user must reach the data dir.
    tmp = Path(tempfile.mkdtemp(prefix="cedarbox-pg-"))
    tmp.chmod(0o711)
    srv = start_server(
        tmp,
        PIP_FIND_LINKS=find_links(wheelhouse),
        CEDARBOX_POSTGRES="auto",
        CEDARBOX_BOOT_TIMEOUT="30",
        CEDARBOX_STOP_GRACE="3",
    )
    try:
        yield srv
    finally:
        srv.stop()
        # As root the cluster's files may live in ~postgres (the data directory is 0700).
        pgdata = cluster_pgdata(srv)
        try:
            # The server stops the cluster it ran: nothing is left behind.
            assert not (pgdata / "postmaster.pid").exists()
            assert not processes_from(srv.data_dir)
        finally:
            _force_stop(srv.data_dir / "postgres", pgdata)
            if not pgdata.is_relative_to(tmp):
                shutil.rmtree(pgdata.parent, ignore_errors=True)
            shutil.rmtree(tmp, ignore_errors=True)


def cluster_pgdata(server: Server) -> Path:
    record = server.data_dir / "postgres" / "cluster.json"
    if not record.is_file():
        return server.data_dir / "postgres" / "data"
    # The superuser's password is in it: only cedarbox's user may read it.
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    return Path(json.loads(record.read_text())["pgdata"])


def _force_stop(root: Path, pgdata: Path) -> None:
    """Only if the test failed before the server could stop the cluster."""
    if (pgdata / "postmaster.pid").exists():
        from gitserver.postgres import ManagedCluster

        ManagedCluster(root).stop()


def config(server: Server, app: str) -> dict[str, str]:
    return json.loads(server.cli("config", "-a", app, "--json").stdout)


def admin_url(server: Server) -> str:
    info = json.loads((server.data_dir / "postgres" / "cluster.json").read_text())
    return f"postgresql://postgres:{info['password']}@127.0.0.1:{info['port']}/postgres"


def databases(server: Server) -> set[str]:
    with psycopg.connect(admin_url(server)) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}


@pytest.mark.skipif(not (APP_WHEELS / ".fetched").exists(), reason="run `make test-deps` first")
def test_django_on_postgres_migrates_serves_rows_and_is_isolated(
    pg_server: Server, tmp_path: Path
) -> None:
    server = pg_server
    repo = make_repo(tmp_path / "src", server.env, DJANGO_PG_APP)
    pushed = check(git(repo, server.env, "push", server.git_url("djpg"), "main"))
    text = "\n".join(pushed.remote_lines())
    assert "heroku-postgresql:essential-0 provisioned as postgresql-" in text
    assert "not PostgreSQL" not in text
    assert "Running migrations:" in text and "Applying notes.0001_initial... OK" in text
    assert "Verifying deploy... done." in text

    vars_ = config(server, "djpg")
    url = vars_["DATABASE_URL"]
    assert url.startswith("postgres://") and urlsplit(url).hostname == "127.0.0.1"
    [color] = [k for k in vars_ if k.startswith("HEROKU_POSTGRESQL_")]
    assert vars_[color] == url
    releases = json.loads(server.cli("releases", "-a", "djpg", "--json").stdout)
    assert [r["description"] for r in releases][::-1][:2] == [
        "Add heroku-postgresql add-on",
        "Deploy " + releases[0]["description"].split()[-1],
    ]

    # The web process writes and reads rows through the router.
    status, body, _ = get(server, "djpg", "/?write=hello")
    assert (status, body) == (200, b"hello")
    assert get(server, "djpg", "/?write=world")[1] == b"hello,world"
    psql = server.cli("pg:psql", "-a", "djpg", "-c", "SELECT count(*) FROM notes_note")
    assert psql.stdout.split()[2] == "2"

    # Another app's role cannot open this database, and this role cannot open that one.
    server.cli("apps:create", "other")
    created = server.cli("addons:create", "heroku-postgresql:mini", "-a", "other")
    assert "Creating heroku-postgresql:mini on other... done, v1" in created.stdout
    other = config(server, "other")["DATABASE_URL"]
    other_db = urlsplit(other).path[1:]
    for who, where in ((other, urlsplit(url).path[1:]), (url, other_db)):
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(who.rsplit("/", 1)[0] + "/" + where).close()

    # addons:destroy wants the confirmation, then drops the database and unsets the vars.
    addon = json.loads(server.cli("addons", "-a", "other", "--json").stdout)[0]
    assert addon["config_vars"][0] == "DATABASE_URL"
    refused = server.cli("addons:destroy", addon["name"], "-a", "other", check=False)
    assert refused.returncode == 1 and "--confirm other" in refused.stderr
    assert other_db in databases(server)
    server.cli("addons:destroy", "DATABASE", "-a", "other", "--confirm", "other")
    assert other_db not in databases(server)
    assert config(server, "other") == {}
    assert server.cli("addons", "-a", "other").stdout.strip() == "No add-ons on other."

    # pg:reset empties the database; the app keeps its URL.
    server.cli("pg:reset", "-a", "djpg", "--confirm", "djpg")
    gone = server.cli("pg:psql", "-a", "djpg", "-c", "SELECT 1 FROM notes_note", check=False)
    assert gone.returncode != 0 and "does not exist" in gone.stderr
    assert config(server, "djpg")["DATABASE_URL"] == url


def test_server_restarts_the_cluster_and_failures_are_clear(
    pg_server: Server, tmp_path: Path
) -> None:
    server = pg_server
    # cedar-14: any manage.py asks for the dev database; it is PostgreSQL here too.
    server.cli("apps:create", "first", "--stack", "cedar-14")
    files = {"requirements.txt": "", "site/manage.py": "print('no django here')\n"}
    repo = make_repo(tmp_path / "src", server.env, files)
    pushed = check(git(repo, server.env, "push", server.git_url("first"), "main"))
    assert "heroku-postgresql:hobby-dev provisioned as postgresql-" in "\n".join(
        pushed.remote_lines()
    )
    url = config(server, "first")["DATABASE_URL"]
    assert url.startswith("postgres://")
    info = json.loads(server.cli("addons:info", "DATABASE", "-a", "first", "--json").stdout)
    assert info["provider"] == "PostgreSQL (managed by cedarbox)"

    # Stopping the server stops the cluster; starting it again starts it for the add-on.
    server.stop()
    assert not (cluster_pgdata(server) / "postmaster.pid").exists()
    again = start_server(server.data_dir.parent, CEDARBOX_POSTGRES="auto")
    server.proc = again.proc
    server.url = again.url
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_user").fetchone() is not None

    # An unreachable external server and an admin role without rights: one clear line, and
    # no release, no add-on.
    server.cli("apps:create", "second")
    unreachable = {**server.env, "CEDARBOX_POSTGRES_ADMIN_URL": "postgresql://a:b@127.0.0.1:1/x"}
    failed = run_cli(
        server.data_dir,
        unreachable,
        "addons:create",
        "heroku-postgresql",
        "-a",
        "second",
        check=False,
    )
    assert failed.returncode == 1
    assert failed.stderr.startswith(" !    Cannot reach the PostgreSQL server")
    no_rights = {**server.env, "CEDARBOX_POSTGRES_ADMIN_URL": url}
    failed = run_cli(
        server.data_dir,
        no_rights,
        "addons:create",
        "heroku-postgresql",
        "-a",
        "second",
        check=False,
    )
    assert failed.returncode == 1
    assert "The PostgreSQL admin role cannot create a database" in failed.stderr
    assert json.loads(server.cli("releases", "-a", "second", "--json").stdout) == []
    assert server.cli("addons", "-a", "second").stdout.strip() == "No add-ons on second."

    # apps:destroy drops the app's databases too.
    db = urlsplit(url).path[1:]
    assert db in databases(server)
    server.cli("apps:destroy", "first", "--confirm", "first")
    assert db not in databases(server)


@pytest.mark.skipif(not (APP_WHEELS / ".fetched").exists(), reason="run `make test-deps` first")
def test_a_push_whose_database_cannot_be_made_is_refused_whole(
    server_factory: Callable[..., Server], tmp_path: Path
) -> None:
    server = server_factory(CEDARBOX_POSTGRES_ADMIN_URL="postgresql://a:b@127.0.0.1:1/x")
    repo = make_repo(tmp_path / "src", server.env, DJANGO_PG_APP)
    pushed = git(repo, server.env, "push", server.git_url("nodb"), "main")
    assert pushed.returncode != 0
    lines = pushed.remote_lines()
    assert any("Cannot reach the PostgreSQL server" in line for line in lines)
    assert lines[-1].strip().endswith("Error code: ADDON_FAILED")
    assert "Running release command" not in "\n".join(lines)
    assert json.loads(server.cli("releases", "-a", "nodb", "--json").stdout) == []
    assert config(server, "nodb") == {}
    builds = json.loads(server.cli("builds", "-a", "nodb", "--json").stdout)
    assert builds[0]["failure_code"] == "ADDON_FAILED"
