"""Kiln's Python runtime client.

Runs inside the execution environment as ``python3 /var/runtime/python/bootstrap.py``: imports the
function's handler and serves invocations from the Lambda Runtime API (2018-06-01), behaving like
Lambda's python3.11 runtime (awslambdaric). Standard library only; nothing from the platform.
"""

import _json
import _socket
import io
import os
import sys
import time

_API = "/2018-06-01/runtime"
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_ERROR_LOG_LINE_TERMINATE = "\r"
_ERROR_LOG_IDENT = "\u00a0"  # NO-BREAK SPACE, so that log viewers keep the indentation

_GLOBAL_AWS_REQUEST_ID = None
_GLOBAL_TENANT_ID = None


# --- Runtime API client -------------------------------------------------------------------------------
# A hand-written HTTP/1.1 client on _socket. Cold start is the reason: http.client drags in email.* and
# ssl, and socket.py pulls in selectors and enum, together tens of milliseconds for a client that only
# ever talks to one local endpoint.


class RuntimeApiClient:
    def __init__(self, socket_path=None, host=None, port=None):
        self._socket_path = socket_path
        self._address = (host, port)
        self._host_header = "localhost" if socket_path else "%s:%s" % (host, port)
        self._sock = None
        self._buf = bytearray()
        # A GET /next already written behind the last post, its answer not read yet (see _post).
        self._next_sent = False
        self._next_request = self._request_bytes("GET", _API + "/invocation/next", b"", None)

    def _connect(self):
        if self._socket_path:
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
            try:
                sock.connect(self._socket_path)
            except OSError:
                sock.close()
                raise
        else:
            host, port = self._address
            error = OSError("cannot resolve %s" % host)
            for family, kind, proto, _, addr in _socket.getaddrinfo(host, port, 0, _socket.SOCK_STREAM):
                sock = _socket.socket(family, kind, proto)
                try:
                    sock.connect(addr)
                    break
                except OSError as e:
                    sock.close()
                    error = e
            else:
                raise error
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        self._sock = sock
        self._buf = bytearray()

    def _close(self):
        self._next_sent = False
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._buf = bytearray()

    def _fill(self):
        data = self._sock.recv(65536)
        if not data:
            raise ConnectionError("Runtime API closed the connection")
        self._buf += data

    def _readline(self):
        while True:
            end = self._buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self._buf[:end])
                del self._buf[: end + 2]
                return line
            if len(self._buf) > 65536:
                raise ConnectionError("Runtime API sent an overlong line")
            self._fill()

    def _read(self, n):
        while len(self._buf) < n:
            self._fill()
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _request_bytes(self, method, path, body, headers):
        head = "%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, path, self._host_header)
        if headers:
            for name, value in headers.items():
                head += "%s: %s\r\n" % (name, value)
        if method != "GET" or body:
            head += "Content-Length: %d\r\n" % len(body)
        return (head + "\r\n").encode("utf-8") + body

    def request(self, method, path, body=b"", headers=None, then_next=False):
        """One request and its response. With then_next, a GET /next is written along with it, its answer
        left for wait_next_invocation."""
        return self._exchange(self._request_bytes(method, path, body, headers), then_next)

    def _exchange(self, data, then_next=False):
        for attempt in (0, 1):
            fresh = self._sock is None
            if fresh:
                self._connect()
            try:
                self._sock.sendall(data + self._next_request if then_next else data)
                status_line = self._readline()
            except OSError:
                self._close()
                # A reused keep-alive connection may have been closed by the server before it read
                # anything: one retry on a fresh connection is safe then.
                if fresh or attempt:
                    raise
                continue
            try:
                response = self._read_response(status_line)
            except OSError:
                self._close()
                raise
            # A connection the server closed after this answer never got to the /next.
            self._next_sent = then_next and self._sock is not None
            return response

    def _read_response(self, status_line):
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise ConnectionError("Bad status line from Runtime API: %r" % status_line)
        status = int(parts[1])
        headers = {}
        while True:
            line = self._readline()
            if not line:
                break
            # The server sends non-ASCII header text (client context JSON) as its UTF-8 bytes.
            name, sep, value = line.decode("utf-8", "replace").partition(":")
            if not sep:
                continue
            name = name.strip().lower()
            value = value.strip()
            headers[name] = headers[name] + ", " + value if name in headers else value
        close = "close" in headers.get("connection", "").lower()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int(self._readline().split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self._readline():
                        pass  # trailers
                    break
                chunks.append(self._read(size + 2)[:-2])
            body = b"".join(chunks)
        elif "content-length" in headers:
            body = self._read(int(headers["content-length"]))
        elif status in (204, 304):
            body = b""
        else:
            while True:
                try:
                    self._fill()
                except ConnectionError:
                    break
            body = bytes(self._buf)
            close = True
        if close:
            self._close()
        return status, headers, body

    def wait_next_invocation(self):
        response = None
        if self._next_sent:
            self._next_sent = False
            try:
                response = self._read_response(self._readline())
            except OSError:
                # The post behind which it went was answered, so asking again on a fresh connection is safe.
                self._close()
        status, headers, body = response or self._exchange(self._next_request)
        if status != 200:
            raise RuntimeError("Runtime API /next answered %d: %r" % (status, body))
        return headers, body

    def _post(self, path, body, headers, then_next=False):
        # With then_next, the GET /next goes out in the same write as the post rather than after its 202:
        # the server reads both at one wake-up and often answers both at one wake-up of ours. Kiln's server,
        # like RAPID, takes a connection's requests in order, so the /next is handled once the post is.
        status, _, resp = self.request("POST", path, body, headers, then_next)
        if status >= 300:
            sys.stderr.write(
                "[ERROR] [%d] LAMBDA_RUNTIME Failed to post to %s. Http response code: %d. %s\n"
                % (int(time.time() * 1000), path, status, resp.decode("utf-8", "replace"))
            )

    def post_invocation_result(self, invoke_id, result, content_type):
        self._post(
            "%s/invocation/%s/response" % (_API, _quote(invoke_id)),
            result,
            {"Content-Type": content_type},
            True,
        )

    def post_invocation_error(self, invoke_id, error_result):
        self._post(
            "%s/invocation/%s/error" % (_API, _quote(invoke_id)),
            to_json(error_result).encode("utf-8"),
            _error_headers(error_result),
            True,
        )

    def post_init_error(self, error_result):
        self._post(
            "%s/init/error" % _API, to_json(error_result).encode("utf-8"), _error_headers(error_result)
        )


_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _quote(invoke_id):
    # urllib.parse.quote would cost an import of urllib (and re) on the cold path for what are UUIDs.
    return "".join(c if c in _UNRESERVED else "".join("%%%02X" % b for b in c.encode()) for c in invoke_id)


def _error_headers(error_result):
    # Header values must stay on one line.
    error_type = "".join(c for c in str(error_result.get("errorType", "")) if c >= " " and c != "\x7f")
    return {"Content-Type": "application/json", _ERROR_TYPE_HEADER: error_type}


def _runtime_api_client():
    socket_path = os.environ.pop("KILN_RUNTIME_API_SOCKET", None)
    if socket_path:
        return RuntimeApiClient(socket_path=socket_path)
    host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return RuntimeApiClient(host=host, port=int(port))


# --- JSON, as Lambda's marshaller does it ------------------------------------------------------------


class FaultException(Exception):
    MARSHAL_ERROR = "Runtime.MarshalError"
    UNMARSHAL_ERROR = "Runtime.UnmarshalError"
    USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
    BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
    MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
    LAMBDA_CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

    def __init__(self, exception_type, msg, trace=None):
        super().__init__(msg)
        self.msg = msg
        self.exception_type = exception_type
        self.trace = trace


class _DecimalNeeded(Exception):
    pass


def _default(obj):
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(obj, decimal.Decimal):
        raise _DecimalNeeded()
    raise TypeError(f"Object of type {obj.__class__.__name__} is not JSON serializable")


# json's C accelerators used directly, with json.JSONEncoder's and json.loads' defaults: importing json
# itself costs ~6 ms (it imports re), which a function that never imports json should not pay.


class _ScannerContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = None

    @staticmethod
    def parse_constant(name):
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_c_scan = _json.make_scanner(_ScannerContext)
_WHITESPACE = " \t\n\r"


def loads(text):
    """json.loads for a str; errors (and their messages) come from json itself."""
    try:
        start = len(text) - len(text.lstrip(_WHITESPACE))
        obj, end = _c_scan(text, start)
        if not text[end:].strip(_WHITESPACE):
            return obj
    except (StopIteration, ValueError):
        pass
    import json

    return json.loads(text)


def to_json(obj):
    if isinstance(obj, str):
        return _json.encode_basestring_ascii(obj)
    # A fresh markers dict per call: an aborted encoding leaves ids behind that would look circular later.
    encode = _json.make_encoder(
        {}, _default, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    try:
        return "".join(encode(obj, 0))
    except _DecimalNeeded:
        return _encode_with_decimals(obj)


def _encode_with_decimals(obj):
    # Lambda's encoder writes a Decimal as its exact digits (simplejson's RawJSON(str(d))); the standard
    # library cannot, so take json's pure-Python path with a float formatter that knows our marker.
    import decimal
    from json import encoder as std

    class DecimalText(float):
        pass

    def default(o):
        if isinstance(o, decimal.Decimal):
            if o.is_nan():
                return float("nan")
            marker = DecimalText(o)
            marker.text = str(o)
            return marker
        return _default(o)

    def floatstr(o, _repr=float.__repr__, _inf=std.INFINITY, _neginf=-std.INFINITY):
        if isinstance(o, DecimalText):
            return o.text
        if o != o:
            return "NaN"
        if o == _inf:
            return "Infinity"
        if o == _neginf:
            return "-Infinity"
        return _repr(o)

    chunks = std._make_iterencode(
        {}, default, std.encode_basestring_ascii, None, floatstr, ": ", ", ", False, False, False
    )(obj, 0)
    return "".join(chunks)


def _unmarshal_event(body, content_type):
    if content_type and not content_type.lower().startswith("application/json"):
        return body
    try:
        return loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except Exception as e:
        raise FaultException(
            FaultException.UNMARSHAL_ERROR, "Unable to unmarshal input: {}".format(str(e)), None
        )


def _marshal_response(response):
    if isinstance(response, bytes):
        return response, "application/unknown"
    try:
        return to_json(response).encode("utf-8"), "application/json"
    except Exception as e:
        raise FaultException(
            FaultException.MARSHAL_ERROR, "Unable to marshal response: {}".format(str(e)), None
        )


# --- context --------------------------------------------------------------------------------------------


class LambdaContext(object):
    def __init__(
        self,
        invoke_id,
        client_context,
        cognito_identity,
        epoch_deadline_time_in_ms,
        invoked_function_arn=None,
        tenant_id=None,
    ):
        self.aws_request_id = invoke_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        # A string, as on Lambda (the environment variable's value), whatever the docs suggest.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id

        self.client_context = _make_obj_from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _make_obj_from_dict(Client, self.client_context.client)

        self.identity = _make_obj_from_dict(CognitoIdentity, {})
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")

        self._epoch_deadline_time_in_ms = epoch_deadline_time_in_ms

    def get_remaining_time_in_millis(self):
        epoch_now_in_ms = int(time.time() * 1000)
        delta_ms = self._epoch_deadline_time_in_ms - epoch_now_in_ms
        return delta_ms if delta_ms > 0 else 0

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity},"
            f"tenant_id={self.tenant_id}"
            "])"
        )


class CognitoIdentity(object):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}"
            "])"
        )


class Client(object):
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]

    def __repr__(self):
        return (
            f"{self.__class__.__name__}(["
            f"installation_id={self.installation_id},"
            f"app_title={self.app_title},"
            f"app_version_name={self.app_version_name},"
            f"app_version_code={self.app_version_code},"
            f"app_package_name={self.app_package_name}"
            "])"
        )


class ClientContext(object):
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return f"{self.__class__.__name__}([custom={self.custom},env={self.env},client={self.client}])"


def _make_obj_from_dict(_class, _dict):
    if _dict is None:
        return None
    obj = _class()
    for field in _class.__slots__:
        setattr(obj, field, _dict.get(field, None))
    return obj


def _parse_json_header(header, name):
    try:
        return loads(header)
    except Exception as e:
        raise FaultException(
            FaultException.LAMBDA_CONTEXT_UNMARSHAL_ERROR,
            "Unable to parse {} JSON: {}".format(name, str(e)),
            None,
        )


# --- errors ---------------------------------------------------------------------------------------------


def make_error(error_message, error_type, stack_trace, invoke_id=None):
    return {
        "errorMessage": error_message if error_message else "",
        "errorType": error_type if error_type else "",
        "requestId": invoke_id if invoke_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


def _user_frames(tb):
    import traceback

    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    # The runtime's own frames come first; the user sees the stack from their code on.
    for i in range(len(frames)):
        if "/bootstrap.py" not in frames[i][0]:
            return traceback.format_list(frames[i:])
    return traceback.format_list(frames)


def _fault_result(exc, invoke_id=None):
    if isinstance(exc, FaultException):
        return make_error(exc.msg, exc.exception_type, exc.trace, invoke_id)
    return make_error(str(exc), type(exc).__name__, _user_frames(exc.__traceback__), invoke_id)


def _replace_line_indentation(line, indent_char, new_indent_char):
    count = len(line) - len(line.lstrip(indent_char))
    return new_indent_char * count + line[count:]


def log_error(error_result):
    if _LOG_FORMAT_JSON:
        record = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
            "level": "ERROR",
            **error_result,
        }
        sys.stdout.write(to_json(record) + "\n")
        return
    description = "[ERROR]"
    error_type = error_result.get("errorType")
    if error_type:
        description += " " + error_type
    message = error_result.get("errorMessage")
    if message:
        if error_type:
            description += ":"
        description += " " + message
    lines = [description]
    stack_trace = error_result.get("stackTrace")
    if stack_trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack_trace:
            if element == "":
                lines.append("")
            else:
                for trace_line in element.splitlines():
                    lines.append(_replace_line_indentation(trace_line, " ", _ERROR_LOG_IDENT))
    # One record per error: "\r" separates its lines, "\n" ends it.
    sys.stdout.write(_ERROR_LOG_LINE_TERMINATE.join(lines) + "\n")


# --- logging ----------------------------------------------------------------------------------------------

_LOG_FORMAT_JSON = False
_LOG_LEVEL = ""


def _read_log_settings():
    """The function's log format and level, read again once a pre-initialised runtime has its function."""
    global _LOG_FORMAT_JSON, _LOG_LEVEL
    _LOG_FORMAT_JSON = (os.environ.get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON"
    # Python logging has no TRACE level: Lambda maps it to DEBUG.
    _LOG_LEVEL = (os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper().replace("TRACE", "DEBUG")


_read_log_settings()


def _setup_logging(logging):
    """Gives the root logger Lambda's handler: every record to stdout, stamped with the request id."""
    if getattr(logging, "_kiln_configured", False):
        return
    logging._kiln_configured = True
    logging.Formatter.converter = time.gmtime

    class LambdaLoggerHandler(logging.Handler):
        def emit(self, record):
            sys.stdout.write(self.format(record))

    class LambdaLoggerFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _GLOBAL_AWS_REQUEST_ID or ""
            record.tenant_id = _GLOBAL_TENANT_ID
            return True

    handler = LambdaLoggerHandler()
    if _LOG_FORMAT_JSON:
        handler.setFormatter(_json_formatter(logging)())
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                "%Y-%m-%dT%H:%M:%S",
            )
        )
    root = logging.getLogger()
    if _LOG_LEVEL in logging._nameToLevel:
        root.setLevel(_LOG_LEVEL)
    handler.addFilter(LambdaLoggerFilter())
    root.addHandler(handler)


class _ConfigureLoggingOnImport:
    """A meta-path finder that gives the root logger Lambda's handler the moment `logging` is imported.

    Lambda configures logging before it imports the function. Importing logging costs ~10 ms of cold
    start, so Kiln does it at the first import instead (the function's, a library's or its own): code that
    imports logging cannot tell the difference, and code that never does saves the time.
    """

    @classmethod
    def install(cls):
        if "logging" in sys.modules:
            _setup_logging(sys.modules["logging"])
        else:
            sys.meta_path.insert(0, cls)

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "logging":
            return None
        sys.meta_path.remove(cls)
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(name, path, target) if find_spec is not None else None
            if spec is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_configure(module):
            exec_module(module)
            _setup_logging(module)

        spec.loader.exec_module = exec_and_configure
        return spec


_RESERVED_FIELDS = {
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module", "exc_info",
    "exc_text", "stack_info", "lineno", "funcName", "created", "msecs", "relativeCreated", "thread",
    "threadName", "processName", "process", "aws_request_id", "tenant_id", "_frame_type", "taskName",
}  # fmt: skip


def _json_formatter(logging):
    class JsonFormatter(logging.Formatter):
        def format(self, record):
            import traceback

            levelno = min(50, max(0, record.levelno)) // 10 * 10
            exc_info = record.exc_info
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            result = {
                "timestamp": "%s.%03dZ" % (stamp, int(record.msecs)),
                "level": logging.getLevelName(levelno),
                "message": record.getMessage(),
                "logger": record.name,
                "stackTrace": traceback.format_tb(exc_info[2]) if exc_info else None,
                "errorType": exc_info[0].__name__ if exc_info else None,
                "errorMessage": str(exc_info[1]) if exc_info else None,
                "requestId": getattr(record, "aws_request_id", None),
                "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc_info else None,
            }
            if getattr(record, "tenant_id", None) is not None:
                result["tenantId"] = record.tenant_id
            result.update(
                (k, v) for k, v in record.__dict__.items() if k not in _RESERVED_FIELDS and k not in result
            )
            result = {k: v for k, v in result.items() if v is not None}
            import json

            return json.dumps(result, ensure_ascii=False, default=str) + "\n"

    return JsonFormatter


# --- handler ----------------------------------------------------------------------------------------------


def _get_handler(handler):
    import importlib

    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultException(
            FaultException.MALFORMED_HANDLER_NAME, "Bad handler '{}': {}".format(handler, str(e))
        )

    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise FaultException(
                FaultException.BUILT_IN_MODULE_CONFLICT,
                "Cannot use built-in module {} as a handler module".format(modname),
            )
        m = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise FaultException(
            FaultException.IMPORT_MODULE_ERROR, "Unable to import module '{}': {}".format(modname, str(e))
        )
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise FaultException(
            FaultException.USER_CODE_SYNTAX_ERROR,
            "Syntax error in module '{}': {}".format(modname, str(e)),
            trace,
        )

    try:
        return getattr(m, fname)
    except AttributeError:
        raise FaultException(
            FaultException.HANDLER_NOT_FOUND,
            "Handler '{}' missing on module '{}'".format(fname, modname),
            None,
        )


def _set_sys_path():
    # Like Lambda: the task root first, then layers (/opt/python), then the interpreter's own path. The
    # directory of this script (sys.path[0]) is the runtime's, not the function's.
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    version = "python%d.%d" % sys.version_info[:2]
    front = [task_root, "/opt/python/lib/%s/site-packages" % version, "/opt/python"]
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if p not in front and p != here]
    sys.path[:] = front + rest


def _unbuffer_stdio():
    # Logs must reach the platform before the response does: make stdout/stderr write-through, which is
    # what `python3 -u` does, unless the interpreter was already started that way.
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name)
        if getattr(stream, "write_through", False) and type(getattr(stream, "buffer", None)) is io.FileIO:
            continue
        try:
            raw = io.FileIO(fd, "w", closefd=False)
            setattr(
                sys,
                name,
                io.TextIOWrapper(raw, encoding=stream.encoding, errors=stream.errors, write_through=True),
            )
        except (OSError, ValueError, AttributeError):
            pass


# --- invocation loop --------------------------------------------------------------------------------------


def handle_event_request(client, request_handler, headers, body):
    invoke_id = headers.get("lambda-runtime-aws-request-id")
    error_result = None
    try:
        client_context = headers.get("lambda-runtime-client-context")
        cognito_identity = headers.get("lambda-runtime-cognito-identity")
        lambda_context = LambdaContext(
            invoke_id,
            _parse_json_header(client_context, "Client Context") if client_context else None,
            _parse_json_header(cognito_identity, "Cognito Identity") if cognito_identity else None,
            int(headers.get("lambda-runtime-deadline-ms") or 0),
            headers.get("lambda-runtime-invoked-function-arn"),
            headers.get("lambda-runtime-aws-tenant-id"),
        )
        event = _unmarshal_event(body, headers.get("content-type"))
        response = request_handler(event, lambda_context)
        result, content_type = _marshal_response(response)
    except Exception as e:
        error_result = _fault_result(e, invoke_id)

    if error_result is not None:
        log_error(error_result)
        client.post_invocation_error(invoke_id, error_result)
    else:
        client.post_invocation_result(invoke_id, result, content_type)


# --- pre-initialised environments (zygotes) -----------------------------------------------------------------
# Started before any function exists (KILN_ZYGOTE=1): the interpreter, this client and the modules Lambda's own
# runtime has imported before it loads a handler are ready; Kiln answers the one specialisation poll once the
# function's code is mounted at /var/task and its memory limit set. The answer is the function's environment,
# exactly what a runtime started from nothing gets, and replaces this process's own before anything of the
# function runs. Kiln gives a zygote only to functions that set no variable the interpreter reads at startup.

# Lambda's runtime has these imported before it loads the handler (awslambdaric), so a function sees them in
# sys.modules there too; here their import is paid before a function exists instead of on its cold start.
_PREIMPORTED = ("json", "logging", "traceback")


def _wait_for_function(client):
    import importlib

    for name in _PREIMPORTED:
        importlib.import_module(name)
    status, _, body = client.request("GET", "/kiln/zygote/specialization")
    if status != 200:
        raise RuntimeError(
            "Kiln answered the specialisation poll with %d: %s" % (status, body.decode("utf-8", "replace"))
        )
    wanted = loads(body.decode("utf-8"))["env"]
    # os.environ is the process's environment: deleting or setting a name unsets or sets the variable. The
    # interpreter's own LC_CTYPE (PEP 538 locale coercion at startup) stays: a fresh start with the same LANG
    # sets it too, and a function that sets LC_* gets no zygote.
    for name in [n for n in os.environ if n not in wanted and n != "LC_CTYPE"]:
        del os.environ[name]
    for name, value in wanted.items():
        if os.environ.get(name) != value:
            os.environ[name] = value
    os.environ.pop("KILN_RUNTIME_API_SOCKET", None)
    _read_log_settings()
    # The working directory is still the empty directory the code was mounted over.
    os.chdir(os.environ.get("LAMBDA_TASK_ROOT") or "/var/task")


def main():
    global _GLOBAL_AWS_REQUEST_ID, _GLOBAL_TENANT_ID

    _unbuffer_stdio()
    client = _runtime_api_client()
    if os.environ.get("KILN_ZYGOTE") == "1":
        try:
            _wait_for_function(client)
        except Exception as e:
            sys.stderr.write("Kiln runtime: %s\n" % e)
            sys.exit(1)
    _set_sys_path()
    try:
        _ConfigureLoggingOnImport.install()
        request_handler = _get_handler(os.environ.get("_HANDLER", ""))
    except Exception as e:
        error_result = _fault_result(e)
        import logging

        logging.warning(
            "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code. "
            "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
            "For functions using managed runtimes, runtime updates can be triggered by a function change, "
            "or can be applied automatically. To determine if the runtime has been updated, check the "
            "runtime version in the INIT_START log entry. If this error correlates with a change in the "
            "runtime version, you may be able to mitigate this error by temporarily rolling back to the "
            "previous runtime version. For more information, see "
            "https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html"
        )
        log_error(error_result)
        client.post_init_error(error_result)
        sys.exit(1)

    while True:
        headers, body = client.wait_next_invocation()
        _GLOBAL_AWS_REQUEST_ID = headers.get("lambda-runtime-aws-request-id")
        _GLOBAL_TENANT_ID = headers.get("lambda-runtime-aws-tenant-id")
        trace_id = headers.get("lambda-runtime-trace-id")
        if trace_id is not None:
            os.environ["_X_AMZN_TRACE_ID"] = trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        handle_event_request(client, request_handler, headers, body)


if __name__ == "__main__":
    main()
