"""JupyterHub for one class of the GAN course (run by root: ``jupyterhub -f classroom/jupyterhub_config.py``).

- Accounts are Unix users (``classroom/setup_class.py`` creates them from the class file), each with a JupyterLab
  server of its own, started by JupyterHub's LocalProcessSpawner from the environment the course is installed in,
  so ``helpers`` imports in every kernel. Homes are private (mode 700): no student reads another's work.
- Instructors are the group ``formgrade-<course>``; they reach the **formgrader**, a hub service named after the
  course, which runs as the grader account in its course folder (the instructor sources live there, unreadable by
  students). Students are the group ``nbgrader-<course>``; their servers show the Assignments tab.
- Files move through nbgrader's exchange folder (release -> fetch -> submit -> collect -> feedback).
- Authentication: JupyterHub's PAM authenticator by default (the accounts' Unix passwords). Any authenticator
  JupyterHub ships or lists works (``"authenticator"`` in the class file: ``pam``, ``shared-password``, or an
  OAuth one such as ``oauthenticator.GitHubOAuthenticator`` installed beside the hub); the login names must be the
  Unix accounts setup_class.py made.

The class file (JSON; ``$GAN_CLASS_SETTINGS``, default ``/srv/gan-course/class.json``) is
``classroom/class.example.json`` filled in. A site config can load this file and add to it
(``load_subconfig("/path/to/classroom/jupyterhub_config.py")``), as the end-to-end test does.
"""

import json
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 - provided by JupyterHub

settings = json.loads(Path(os.environ.get("GAN_CLASS_SETTINGS", "/srv/gan-course/class.json")).read_text())
course = settings["course_id"]
instructors, students = list(settings["instructors"]), list(settings["students"])
grader = settings["grader_account"]
state = Path(settings["state_dir"])
bin_dir = Path(settings.get("python", sys.executable)).parent  # the course's environment: jupyterhub-singleuser

c.JupyterHub.bind_url = settings.get("bind_url", "http://127.0.0.1:8000")
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")
if settings.get("proxy"):
    c.ConfigurableHTTPProxy.command = [settings["proxy"]]

c.JupyterHub.authenticator_class = settings.get("authenticator", "pam")
c.Authenticator.allowed_users = set(instructors + students)
c.Authenticator.admin_users = set(settings.get("admins", []))

c.JupyterHub.load_groups = {f"formgrade-{course}": instructors, f"nbgrader-{course}": students}
c.JupyterHub.load_roles = [
    {
        "name": f"formgrade-{course}",
        "groups": [f"formgrade-{course}"],
        "scopes": [f"access:services!service={course}", "list:services", f"read:services!service={course}"],
    },
    # the Assignments tab's course list asks the hub which course services exist
    {
        "name": f"nbgrader-{course}",
        "groups": [f"nbgrader-{course}"],
        "scopes": ["list:services", f"read:services!service={course}"],
    },
    {"name": "server", "scopes": ["inherit"]},
]
c.JupyterHub.services = [
    {
        "name": course,
        "url": f"http://127.0.0.1:{settings.get('formgrader_port', 9999)}",
        "command": [str(bin_dir / "jupyterhub-singleuser"), "--ServerApp.ip=127.0.0.1"],
        "user": grader,
        "cwd": str(Path("~" + grader).expanduser() / course),
        "environment": {"JUPYTERHUB_DEFAULT_URL": "/lab", "OMP_NUM_THREADS": "1"},
    }
]

c.Spawner.cmd = [str(bin_dir / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
# one math thread per kernel: a class shares the cores (two threads on a busy machine ran 6-12x slower than one)
c.Spawner.environment = {"OMP_NUM_THREADS": "1"}
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 120
