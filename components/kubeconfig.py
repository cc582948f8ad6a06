"""The one reader of kubeconfig files, and the API server one of their contexts names.

The program reads a cluster with the credentials the Kubernetes provider uses, so
this module reads kubeconfigs as client-go (the provider's loader) does:

- paths in a kubeconfig (`certificate-authority`, `client-certificate`,
  `client-key`, `tokenFile`, and an exec `command` that contains a `/`) are
  relative to the kubeconfig file's directory;
- credentials come from `token`, `tokenFile`, `client-certificate(-data)` with
  `client-key(-data)`, `username`/`password`, or an exec credential plugin
  (client.authentication.k8s.io v1 or v1beta1: what `gcloud container clusters
  get-credentials`, `aws eks update-kubeconfig` and `az aks get-credentials`
  write), whose answer is kept until its `expirationTimestamp`;
- `certificate-authority(-data)`, `insecure-skip-tls-verify`, `tls-server-name`
  and an `http://` `proxy-url` (else HTTPS_PROXY / NO_PROXY) shape the connection.

What it cannot do as client-go would (an `auth-provider` entry, a SOCKS or
`https://` proxy, an exec plugin that insists on a terminal) is refused with a
KubeconfigError that says so, never skipped. Nothing here imports a component.
"""

from __future__ import annotations

import base64
import copy
import datetime
import http.client
import json
import os
import shlex
import shutil
import ssl
import subprocess
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KUBECONFIG_KEY = "kubernetes:kubeconfig"
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
# A login plugin may open a browser flow or refresh a token over the network; past
# this it is taken to hang.
EXEC_TIMEOUT_SECONDS = 120
TIMEOUT_SECONDS = 10
JSON = "application/json"


class KubeconfigError(Exception):
    """A kubeconfig that cannot reach its cluster as written: the message names the
    stack key, the file, what is wrong and, where there is one, the fix."""


class ApiError(OSError):
    """The API server answered, but not with the object or a 404."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _named(items: Any) -> dict[str, dict[str, Any]]:
    """`[{name: n, <kind>: {...}}]` of a kubeconfig as {n: {...}}."""
    out: dict[str, dict[str, Any]] = {}
    for item in items or []:
        body = next((value for key, value in item.items() if key != "name"), None)
        out[str(item.get("name"))] = dict(body or {})
    return out


def _absolute(value: str, base: Path) -> str:
    # client-go's ResolvePaths: joined to the file's directory, `~` not expanded.
    return value if not value or os.path.isabs(value) else str(base / value)


def _resolve_paths(document: dict[str, Any], base: Path) -> dict[str, Any]:
    """The document with every file reference made absolute against `base`."""
    resolved = copy.deepcopy(document)
    for item in resolved.get("clusters") or []:
        cluster = item.get("cluster") or {}
        if cluster.get("certificate-authority"):
            cluster["certificate-authority"] = _absolute(cluster["certificate-authority"], base)
    for item in resolved.get("users") or []:
        user = item.get("user") or {}
        for key in ("client-certificate", "client-key", "tokenFile"):
            if user.get(key):
                user[key] = _absolute(user[key], base)
        command = (user.get("exec") or {}).get("command")
        # A bare name is looked up on PATH; only a path is the file's neighbour.
        if command and "/" in command:
            user["exec"]["command"] = _absolute(command, base)
    return resolved


@dataclass(frozen=True)
class Kubeconfig:
    """A kubeconfig as read from `path` (or given as text), its paths resolved."""

    text: str
    document: dict[str, Any]
    path: Path | None
    key: str = KUBECONFIG_KEY

    @classmethod
    def load(cls, source: str, project_dir: Path, key: str = KUBECONFIG_KEY) -> Kubeconfig:
        """Read `source`, a path (relative to `project_dir`, `~` allowed) or, as the
        provider also accepts, the kubeconfig document itself."""
        document = "\n" in source or source.lstrip().startswith("{")
        path = Path(os.path.expanduser(source))
        path = path if path.is_absolute() else project_dir / path
        if document:
            return cls.parse(source, None, key, base=project_dir)
        if not path.is_file():
            raise FileNotFoundError(f"{key}: {path} does not exist")
        return cls.parse(path.read_text(), path, key)

    @classmethod
    def parse(cls, text: str, path: Path | None, key: str = KUBECONFIG_KEY, base: Path | None = None) -> Kubeconfig:
        """`text` read from `path`; relative paths resolve against the file's
        directory, or `base` (the working directory) for text without a file."""
        where = f"{key}: {path or 'the kubeconfig'}"
        try:
            document = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            raise KubeconfigError(f"{where} is not YAML: {error}") from error
        if not isinstance(document, dict):
            raise KubeconfigError(f"{where} is not a kubeconfig (a mapping with clusters, users and contexts)")
        directory = path.parent if path is not None else (base or Path.cwd())
        # Made absolute as client-go does (filepath.Abs: symlinks kept).
        return cls(text, _resolve_paths(document, Path(os.path.abspath(directory))), path, key)

    @property
    def where(self) -> str:
        return f"{self.key}: {self.path or 'the kubeconfig'}"

    def contexts(self) -> list[str]:
        return sorted(_named(self.document.get("contexts")))

    def context(self, name: str | None) -> Context:
        """The context `name` (else the current context) with its cluster and user."""
        name = name or self.document.get("current-context")
        contexts = _named(self.document.get("contexts"))
        if not name or name not in contexts:
            found = ", ".join(sorted(contexts)) or "none"
            wanted = f"context '{name}'" if name else "a current-context"
            raise KubeconfigError(f"{self.where} has no {wanted} (it has {found})")
        entry = contexts[name]
        cluster = _named(self.document.get("clusters")).get(str(entry.get("cluster")))
        if cluster is None or not cluster.get("server"):
            raise KubeconfigError(f"{self.where}: context '{name}' names no cluster with a server")
        users = _named(self.document.get("users"))
        user_name = str(entry.get("user") or "")
        if user_name and user_name not in users:
            raise KubeconfigError(f"{self.where}: context '{name}' names the user '{user_name}', which is not in it")
        return Context(name, cluster, users.get(user_name, {}), user_name, self.where)

    def provider_text(self) -> str:
        """The kubeconfig for the provider. It is handed the document, not the path,
        and client-go resolves nothing in a document, so relative paths are made
        absolute here to name the same files as the lookups; a kubeconfig without
        them is passed as it is."""
        original = yaml.safe_load(self.text) or {}
        return self.text if original == self.document else yaml.safe_dump(self.document, sort_keys=False)


def _file_or_data(section: Mapping[str, Any], key: str, where: str) -> bytes:
    """`<key>-data` (base64) or the file `<key>` of a kubeconfig section, else b''."""
    if section.get(f"{key}-data"):
        return base64.b64decode(section[f"{key}-data"])
    if section.get(key):
        try:
            return Path(section[key]).read_bytes()
        except OSError as error:
            raise KubeconfigError(f"{where}: {key} {section[key]} cannot be read: {error.strerror}") from error
    return b""


@dataclass(frozen=True)
class Credential:
    """What an API request presents: a bearer token, a client certificate, or basic auth."""

    token: str | None = None
    certificate: bytes = b""
    key: bytes = b""
    basic: str | None = None
    expires: datetime.datetime | None = None

    def valid(self) -> bool:
        return self.expires is None or datetime.datetime.now(datetime.UTC) < self.expires


@dataclass(frozen=True)
class Context:
    """One context of a kubeconfig: its name, its cluster and its user (paths absolute)."""

    name: str
    cluster: dict[str, Any]
    user: dict[str, Any]
    user_name: str
    where: str

    @property
    def server(self) -> str:
        return str(self.cluster["server"])

    def certificate_authority(self) -> bytes:
        return _file_or_data(self.cluster, "certificate-authority", self.where)

    def credential(self, refresh: bool = False) -> Credential:
        """The user's credential, running its exec plugin when it has one (answers are
        kept per process until they expire, so every reader of a run shares one;
        `refresh` runs the plugin again)."""
        user = self.user
        if user.get("auth-provider"):
            provider = (user["auth-provider"] or {}).get("name", "?")
            raise KubeconfigError(
                f"{self.where}: the user '{self.user_name}' of context '{self.name}' logs in through the "
                f"auth-provider '{provider}', which this program cannot use (client-go dropped gcp and azure; "
                "use the exec plugin your cloud ships instead, such as gke-gcloud-auth-plugin or kubelogin)"
            )
        if user.get("exec"):
            return exec_credential(self, refresh)
        token = user.get("token")
        if user.get("tokenFile"):
            # As client-go: the file's token takes precedence over `token`.
            token = _file_or_data(user, "tokenFile", self.where).decode().strip()
        certificate = _file_or_data(user, "client-certificate", self.where)
        key = _file_or_data(user, "client-key", self.where)
        if bool(certificate) != bool(key):
            raise KubeconfigError(
                f"{self.where}: the user '{self.user_name}' has a client certificate or key without the other"
            )
        basic = None
        if user.get("username"):
            basic = base64.b64encode(f"{user['username']}:{user.get('password', '')}".encode()).decode()
        return Credential(token=token or None, certificate=certificate, key=key, basic=basic)


# --- exec credential plugins ------------------------------------------------------

# Answers of exec plugins in this process, by everything that goes into running one.
_exec_answers: dict[str, Credential] = {}


def _exec_info(context: Context, api_version: str) -> str:
    """KUBERNETES_EXEC_INFO: never interactive (stdin is not a terminal here), with
    the cluster when the kubeconfig asks for it (`provideClusterInfo`)."""
    spec: dict[str, Any] = {"interactive": False}
    if context.user["exec"].get("provideClusterInfo"):
        cluster = context.cluster
        info: dict[str, Any] = {"server": context.server}
        ca = context.certificate_authority()
        if ca:
            info["certificate-authority-data"] = base64.b64encode(ca).decode()
        for key in ("insecure-skip-tls-verify", "tls-server-name", "proxy-url"):
            if cluster.get(key):
                info[key] = cluster[key]
        extension = _named(cluster.get("extensions")).get("client.authentication.k8s.io/exec")
        if extension is not None:
            info["config"] = extension
        spec["cluster"] = info
    return json.dumps({"apiVersion": api_version, "kind": "ExecCredential", "spec": spec})


def _parse_time(value: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def exec_credential(context: Context, refresh: bool = False) -> Credential:
    """Run the user's exec plugin as client-go does and read its ExecCredential."""
    spec = context.user["exec"]
    who = f"{context.where}: the user '{context.user_name}' of context '{context.name}'"
    api_version = spec.get("apiVersion")
    if api_version not in EXEC_API_VERSIONS:
        raise KubeconfigError(
            f"{who} runs an exec plugin with apiVersion {api_version!r}; supported: {', '.join(EXEC_API_VERSIONS)}"
        )
    command = spec.get("command")
    if not command:
        raise KubeconfigError(f"{who} has an exec section without a command")
    # v1beta1 defaults to IfAvailable; v1 must say (client-go's validation).
    mode = spec.get("interactiveMode") or ("IfAvailable" if api_version.endswith("v1beta1") else None)
    if mode not in ("Never", "IfAvailable", "Always"):
        raise KubeconfigError(f"{who} runs `{command}` with interactiveMode {mode!r}; set Never or IfAvailable")
    if mode == "Always":
        raise KubeconfigError(
            f"{who} runs `{command}` with interactiveMode Always, but the program has no terminal to prompt on; "
            "log in first (so the plugin needs no prompt) and set interactiveMode IfAvailable"
        )
    args = [str(arg) for arg in spec.get("args") or []]
    env = dict(os.environ) | {str(item["name"]): str(item.get("value", "")) for item in spec.get("env") or []}
    env["KUBERNETES_EXEC_INFO"] = _exec_info(context, api_version)
    line = shlex.join([command, *args])
    cache_key = json.dumps([command, args, spec.get("env"), env["KUBERNETES_EXEC_INFO"]])
    cached = _exec_answers.get(cache_key)
    if cached is not None and cached.valid() and not refresh:
        return cached
    program = command if "/" in command else shutil.which(command, path=env.get("PATH"))
    if program is None or not os.path.isfile(program):
        hint = f" {spec['installHint'].strip()}" if spec.get("installHint") else ""
        raise KubeconfigError(f"{who} runs `{command}` for its credentials, which is not installed here.{hint}")
    try:
        done = subprocess.run(
            [program, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=EXEC_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise KubeconfigError(f"{who} runs `{line}`, which was still running after {EXEC_TIMEOUT_SECONDS}s") from error
    except OSError as error:
        raise KubeconfigError(f"{who} runs `{line}`, which could not start: {error.strerror}") from error
    if done.returncode != 0:
        said = done.stderr.strip()[-2000:] or "nothing on stderr"
        raise KubeconfigError(f"{who} runs `{line}` for its credentials, which exited {done.returncode}: {said}")
    credential = _read_exec_answer(done.stdout, api_version, f"{who} runs `{line}`, which")
    _exec_answers[cache_key] = credential
    return credential


def _read_exec_answer(stdout: str, api_version: str, who: str) -> Credential:
    try:
        answer = json.loads(stdout)
    except json.JSONDecodeError as error:
        raise KubeconfigError(f"{who} printed no ExecCredential JSON: {error}") from error
    if not isinstance(answer, dict) or answer.get("kind") != "ExecCredential":
        raise KubeconfigError(f"{who} printed no ExecCredential (kind {answer.get('kind')!r})")
    if answer.get("apiVersion") != api_version:
        raise KubeconfigError(f"{who} answered in {answer.get('apiVersion')!r}; the kubeconfig asks for {api_version}")
    status = answer.get("status") or {}
    certificate, key = status.get("clientCertificateData"), status.get("clientKeyData")
    if bool(certificate) != bool(key):
        raise KubeconfigError(f"{who} returned clientCertificateData or clientKeyData without the other")
    if not status.get("token") and not certificate:
        raise KubeconfigError(f"{who} returned neither a token nor a client certificate in its status")
    expires = status.get("expirationTimestamp")
    try:
        expiry = _parse_time(expires) if expires else None
    except ValueError as error:
        raise KubeconfigError(f"{who} returned expirationTimestamp {expires!r}, not RFC 3339") from error
    return Credential(
        token=status.get("token") or None,
        certificate=(certificate or "").encode(),
        key=(key or "").encode(),
        expires=expiry,
    )


# --- the API server ---------------------------------------------------------------


class _TlsConnection(http.client.HTTPSConnection):
    """HTTPS with the kubeconfig's `tls-server-name` as the name checked and sent (SNI)."""

    def __init__(self, host: str, *, server_name: str, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(host, timeout=timeout, context=context)
        self._server_name = server_name
        self._tls = context

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._tls.wrap_socket(self.sock, server_hostname=self._server_name)


def _proxy(context: Context, url: urllib.parse.SplitResult) -> urllib.parse.SplitResult | None:
    """The proxy for the API server: the cluster's `proxy-url`, else the environment's
    (as Go's ProxyFromEnvironment: never for loopback, NO_PROXY honoured)."""
    configured = str(context.cluster.get("proxy-url") or "")
    where = f"{context.where}: context '{context.name}' reaches its server through proxy-url"
    if not configured:
        host = url.hostname or ""
        if host in ("localhost", "::1") or host.startswith("127.") or urllib.request.proxy_bypass(host):
            return None
        configured = urllib.request.getproxies_environment().get(url.scheme, "")
        if not configured:
            return None
        configured = configured if "://" in configured else f"http://{configured}"
        where = f"the environment's {url.scheme.upper()}_PROXY for context '{context.name}' is"
    proxy = urllib.parse.urlsplit(configured)
    if proxy.scheme != "http":
        raise KubeconfigError(f"{where} {configured}; this program's lookups support only http:// proxies")
    return proxy


@dataclass
class ApiClient:
    """GETs against one context's API server with that context's credentials. One
    connection serves every request of a program run (a stack makes hundreds)."""

    context: Context
    timeout: float = TIMEOUT_SECONDS
    _credential: Credential | None = field(default=None, init=False, repr=False)
    _tls: ssl.SSLContext | None = field(default=None, init=False, repr=False)
    _connection: http.client.HTTPConnection | None = field(default=None, init=False, repr=False)

    @property
    def server(self) -> str:
        return self.context.server.rstrip("/")

    def get(self, path: str, accept: str = JSON) -> dict[str, Any] | None:
        """The JSON at `path`, or None when it does not exist (404). Raises
        KubeconfigError when the credentials cannot be had, OSError when the server
        cannot be reached or refuses (ApiError, with its HTTP status)."""
        refresh = False
        for attempt in range(3):
            credential = self._current_credential(refresh)
            connection = self._connection or self._connect()
            headers = {"Accept": accept}
            if credential.token:
                headers["Authorization"] = f"Bearer {credential.token}"
            elif credential.basic:
                headers["Authorization"] = f"Basic {credential.basic}"
            try:
                connection.request("GET", urllib.parse.urlsplit(self.server).path + path, headers=headers)
                response = connection.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed an idle kept-alive connection: once more on a new one.
                self._close()
                if attempt == 2:
                    raise
                continue
            if response.will_close:
                self._close()
            if response.status == 401 and self.context.user.get("exec") and not refresh:
                # As client-go: a rejected plugin credential is fetched anew, once.
                self._credential = None
                refresh = True
                continue
            if response.status == 404:
                return None
            if response.status != 200:
                raise ApiError(
                    f"GET {self.server}{path}: HTTP {response.status} {response.reason} "
                    f"({body[:300].decode(errors='replace').strip()})",
                    response.status,
                )
            return dict(json.loads(body))
        return None

    def _current_credential(self, refresh: bool) -> Credential:
        if self._credential is None or not self._credential.valid():
            credential = self.context.credential(refresh)
            if self._credential is None or credential.certificate != self._credential.certificate:
                # A new client certificate needs a new TLS context and connection.
                self._close()
                self._tls = None
            self._credential = credential
        return self._credential

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is not None:
            return self._tls
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if self.context.cluster.get("insecure-skip-tls-verify"):
            tls.check_hostname = False
            tls.verify_mode = ssl.CERT_NONE
        else:
            ca = self.context.certificate_authority()
            # The kubeconfig's CA replaces the system's, as in client-go.
            if ca:
                tls.load_verify_locations(cadata=ca.decode())
            else:
                tls.load_default_certs()
        credential = self._credential or Credential()
        if credential.certificate:
            with tempfile.TemporaryDirectory() as directory:
                certfile, keyfile = Path(directory) / "cert", Path(directory) / "key"
                for path, data in ((certfile, credential.certificate), (keyfile, credential.key)):
                    path.touch(mode=0o600)
                    path.write_bytes(data)
                tls.load_cert_chain(str(certfile), str(keyfile))
        self._tls = tls
        return tls

    def _connect(self) -> http.client.HTTPConnection:
        url = urllib.parse.urlsplit(self.server)
        proxy = _proxy(self.context, url)
        address = proxy.netloc if proxy else url.netloc
        connection: http.client.HTTPConnection
        if url.scheme == "https":
            name = self.context.cluster.get("tls-server-name") or url.hostname or ""
            connection = _TlsConnection(address, server_name=name, context=self._tls_context(), timeout=self.timeout)
        else:
            connection = http.client.HTTPConnection(address, timeout=self.timeout)
        if proxy:
            connection.set_tunnel(url.netloc)
        self._connection = connection
        return connection

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None
