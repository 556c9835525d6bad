"""OpenAI-compatible servers (vLLM, SGLang, TGI, ``transformers serve``, ...): the server generates, evalkit does
prompts, post-processing, the sandbox and the statistics.

* Base models go through ``/v1/completions`` (the task's prompt text, temperature, top_p, max_tokens, stop and a
  per-sample ``seed``), one request per sample (``n`` is not relied on: not every server has it).
* ``--chat`` goes through ``/v1/chat/completions``. Where the server can continue a prefilled assistant message
  (vLLM's ``continue_final_message``), the user message and the start of the assistant's turn are
  sent, and the answer is read as that turn's continuation, as with the HF backend. Where it cannot (a
  probe request is answered 400/422), only the user message is sent, the answer is a fresh assistant message, no
  stop sequence is sent (the task's chat stop would cut at the *opening* fence), and the code is extracted from
  the whole answer. results.json ``model.chat_mode`` says which.
* Infilling: the FIM prompt is laid out with the model's tokenizer (``--tokenizer``; the FIM layouts of
  ``fim.py``) and sent as token ids where the server takes a token-id prompt (vLLM does), else as text with the
  family's sentinel strings (the server's tokenizer adds BOS itself). A probe decides; ``model.fim.prompt`` is
  ``token_ids`` or ``text``.
* ``--concurrency`` requests in flight, spread over the servers of ``--base-url A,B,...`` by outstanding load;
  429, 5xx, timeouts and dropped connections are retried with jittered exponential backoff; a server that
  refuses connections (or fails three times in a row) rests for a while and its work goes to the others; after
  ``--max-retries`` one clear error names the URL and what it answered.
* Every answer is handed to ``on_result`` as it arrives (the runner journals it), so ``--resume`` sends only
  what is missing.
* The API key is read from the environment variable named by ``--api-key-env``; it is never recorded.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

from evalkit.backends.base import ChatPrompt, Generation, GenerationParams, GenerationRequest, OnResult
from evalkit.backends.openai_http import (
    Failure,
    Server,
    ServerError,
    Servers,
    api_root,
    auth_headers,
    clean_url,
)
from evalkit.backends.served_text import TOKEN_ID_FIELDS, decode_after_anchor, drops_leading_space, token_ids
from evalkit.errors import UserError, first_line
from evalkit.task import FimPrompt

__all__ = ["OpenAIBackend", "ServerError", "api_root", "clean_url"]

_PROBE_REJECTED = {400, 404, 422}  # a request shape the server does not take


class OpenAIBackend:
    name = "openai"

    def __init__(self, model: str | None, *, base_url: str, concurrency: int = 64, request_timeout: float = 600.0,
                 max_retries: int = 6, api_key_env: str | None = None, tokenizer: str | None = None,
                 chat: bool = False, fim: str = "psm", fim_tokens: str | None = None, revision: str | None = None,
                 trust_remote_code: bool = False) -> None:
        try:
            import httpx
        except ImportError:
            raise UserError("the openai backend needs httpx: pip install 'evalkit[serve]'") from None
        self.httpx = httpx
        urls = [u for u in (s.strip() for s in base_url.split(",")) if u]
        if not urls:
            raise UserError("--base-url needs at least one URL")
        roots = [api_root(u) for u in urls]
        if concurrency < 1:
            raise UserError("--concurrency must be at least 1")
        if request_timeout <= 0:
            raise UserError("--request-timeout must be positive")
        if max_retries < 0:
            raise UserError("--max-retries must be >= 0")
        self.concurrency, self.request_timeout, self.max_retries = concurrency, request_timeout, max_retries
        self.api_key_env = api_key_env
        key = None
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise UserError(f"--api-key-env {api_key_env}: that environment variable is not set")
        self.servers = [Server(clean_url(r), auth_headers(r, key)) for r in roots]
        if len({s.url for s in self.servers}) < len(self.servers):
            raise UserError("--base-url lists the same server twice")
        self.pool = Servers(self.servers, request_timeout, max_retries, None)
        self.tokenizer_name = tokenizer
        self.revision, self.trust_remote_code = revision, trust_remote_code
        self.fim_mode, self.fim_tokens = fim, fim_tokens
        self.chat = chat
        self._tok: Any = None
        self._fim: Any = None
        self._ssl: Any = None
        self.fim_prompt: str | None = None  # token_ids | text, set by the probe
        self.chat_mode: str | None = None  # continue_final_message | new_turn, set by the probe
        self.text_decoding: dict[str, Any] | None = None  # who decodes completions, set by check_text
        self._want_ids = False  # ask for token ids and decode them here (``served_text``)
        self.model = model or ""
        self._discover()
        if chat:
            self._probe_chat()

    # ------------------------------------------------------------------------------------------
    # discovery and provenance
    # ------------------------------------------------------------------------------------------
    def _sync_client(self, s: Server):  # noqa: ANN202
        return self.httpx.Client(headers=[(k.decode(), v.decode()) for k, v in s.headers],
                                 timeout=min(30.0, self.request_timeout), verify=self._tls() or True)

    def _discover(self) -> None:
        """Ask every server for its models (``/v1/models``) and engine (headers, ``/version``)."""
        self.endpoints: list[dict[str, Any]] = []
        listed: list[dict[str, Any]] = []
        for s in self.servers:
            with self._sync_client(s) as c:
                ep: dict[str, Any] = {"url": s.url}
                try:
                    r = c.get(s.url + "/models")
                except self.httpx.HTTPError as e:
                    ep["error"] = f"unreachable: {first_line(e)}"
                    s.failed(True, f"unreachable: {first_line(e)}", quiet=True)
                    self.endpoints.append(ep)
                    continue
                if r.status_code in (401, 403):
                    raise UserError(f"{s.url}/models answered {r.status_code} (unauthorized): "
                                    "give the key's environment variable with --api-key-env")
                for h in ("server", "x-engine", "x-vllm-version", "x-sglang-version"):
                    if h in r.headers:
                        ep[h] = r.headers[h]
                if r.status_code == 200:
                    try:
                        data = r.json().get("data") or []
                    except ValueError:
                        data = []
                    ep["models"] = [m.get("id") for m in data if isinstance(m, dict)][:20]
                    listed += [m for m in data if isinstance(m, dict)]
                else:
                    ep["models_status"] = r.status_code
                ep.update(self._engine_version(c, s))
                self.endpoints.append(ep)
        if all("error" in ep for ep in self.endpoints):
            raise UserError("no server answers: " + "; ".join(f"{ep['url']} {ep['error']}" for ep in self.endpoints))
        ids = [m.get("id") for m in listed]
        if not self.model:
            distinct = sorted({i for i in ids if i})
            if len(distinct) != 1:
                raise UserError(f"--model is needed: the servers serve {', '.join(distinct) or 'no listed model'}")
            self.model = distinct[0]
        entry = next((m for m in listed if m.get("id") == self.model), None)
        # ``created`` and a load status change with every start of a server: not part of what the model is
        self.served = {k: v for k, v in (entry or {}).items()
                       if k not in ("created", "status", "object", "permission")}

    def _engine_version(self, c: Any, s: Server) -> dict[str, Any]:
        """vLLM answers ``/version``, TGI ``/info``: keep what names the engine and its version."""
        root = s.url[: -len("/v1")]
        for path in ("/version", "/info"):
            try:
                r = c.get(root + path, timeout=5.0)
                if r.status_code == 200 and r.headers.get("content-type", "").startswith("application/json"):
                    body = r.json()
                    if isinstance(body, dict):
                        keep = {k: body[k] for k in ("version", "model_id", "model_sha", "sha", "docker_label")
                                if isinstance(body.get(k), (str, int, float))}
                        if keep:
                            return {path.lstrip("/"): keep}
            except (self.httpx.HTTPError, ValueError):
                continue
        return {}

    def info(self) -> dict[str, Any]:
        import httpx

        return {
            "backend": "openai",
            "id": self.model,
            "revision": self.revision,
            "tokenizer": self.tokenizer_name if self._tok is not None else None,
            "chat_mode": self.chat_mode,
            "text_decoding": self.text_decoding,
            "fim": self.fim_info() if self._fim is not None else None,
            # where the model was reached and how: recorded, but not part of the run's identity (--resume may
            # use other servers, another concurrency)
            "serving": {
                "endpoints": self.endpoints,
                "served_model": self.served or None,
                "concurrency": self.concurrency,
                "request_timeout_s": self.request_timeout,
                "max_retries": self.max_retries,
                "api_key_env": self.api_key_env,
                "client": f"evalkit http11 (discovery: httpx {httpx.__version__})",
            },
        }

    # ------------------------------------------------------------------------------------------
    # infilling: tokenizer, layout, probe
    # ------------------------------------------------------------------------------------------
    def _tokenizer(self) -> Any:
        if self._tok is None:
            name = self.tokenizer_name or self.model
            try:
                from transformers import AutoTokenizer
            except ImportError:
                raise UserError("infilling through a server lays out the prompt with the model's tokenizer: "
                                "pip install 'evalkit[hf]'") from None
            try:
                self._tok = AutoTokenizer.from_pretrained(name, revision=self.revision,
                                                          trust_remote_code=self.trust_remote_code)
            except Exception as e:
                raise UserError(f"infilling needs the model's tokenizer; cannot load {name!r} "
                                f"({first_line(e)}): pass --tokenizer HUB_ID_OR_DIR") from None
            self.tokenizer_name = name
        return self._tok

    def fim_layout(self):  # noqa: ANN201
        if self._fim is None:
            from evalkit.backends.fim import detect_fim

            self._fim = detect_fim(self._tokenizer(), self.fim_tokens)
        return self._fim

    def check_fim(self) -> None:
        """Lay out the FIM tokens and find out whether the server takes a token-id prompt (before the manifest)."""
        layout = self.fim_layout()
        if self.fim_prompt is None:
            ids = layout.encode(self._tokenizer(), "def f():\n    ", "\n", self.fim_mode)
            body = {"model": self.model, "prompt": ids, "max_tokens": 1, "temperature": 0.0}
            status = asyncio.run(self._probe("/completions", body))[0]
            self.fim_prompt = "token_ids" if status == 200 else "text"

    def fim_info(self) -> dict[str, Any]:
        f = self.fim_layout()
        return {"family": f.family, "mode": self.fim_mode, "tokens": f.token_names(), "prompt": self.fim_prompt}

    def _fim_payload(self, p: FimPrompt) -> tuple[Any, str]:
        tok, layout = self._tokenizer(), self.fim_layout()
        ids = layout.encode(tok, p.prefix, p.suffix, self.fim_mode)
        if self.fim_prompt == "token_ids":
            return ids, tok.decode(ids, skip_special_tokens=False)
        bos = layout._bos(tok)
        if bos and ids[: len(bos)] == bos:
            ids = ids[len(bos):]  # the server's tokenizer adds it again
        text = tok.decode(ids, skip_special_tokens=False)
        return text, text

    # ------------------------------------------------------------------------------------------
    # chat probe
    # ------------------------------------------------------------------------------------------
    def _chat_messages(self, p: ChatPrompt) -> tuple[list[dict[str, str]], dict[str, Any]]:
        if self.chat_mode == "continue_final_message" and p.assistant_prefix:
            return ([{"role": "user", "content": p.user}, {"role": "assistant", "content": p.assistant_prefix}],
                    {"continue_final_message": True, "add_generation_prompt": False})
        return [{"role": "user", "content": p.user}], {}

    def _probe_chat(self) -> None:
        self.chat_mode = "continue_final_message"
        msgs, extra = self._chat_messages(ChatPrompt("Say hi.", "Hi"))
        body = {"model": self.model, "messages": msgs, "max_tokens": 1, "temperature": 0.0, **extra}
        if asyncio.run(self._probe("/chat/completions", body))[0] != 200:
            self.chat_mode = "new_turn"
            print("evalkit: notice: the server cannot continue a prefilled assistant turn (it refused vLLM's "
                  "continue_final_message): chat prompts go as the user message alone and the answer is a new "
                  "turn, not the local chat protocol; recorded as chat_mode new_turn (compare and check mark it)",
                  file=sys.stderr)

    async def _probe(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        """(200, the answer) if the servers take this request, else (the 4xx status they answered, None); other
        errors are raised."""
        conns = self._client()
        try:
            data = await self._post(conns, path, body)
        except Failure as f:
            if f.status in _PROBE_REJECTED:
                return f.status, None
            after = f" (after {self.max_retries} retries)" if f.retry else ""
            raise ServerError(f"{f.what}{after}") from None
        finally:
            for c in conns.values():
                c.close()
        return 200, data

    # ------------------------------------------------------------------------------------------
    # who decodes the new tokens (``served_text``)
    # ------------------------------------------------------------------------------------------
    def _text_tokenizer(self) -> Any:
        """The model's tokenizer if one is at hand (--tokenizer, a local model directory, the HF cache)."""
        if self._tok is not None:
            return self._tok
        name = self.tokenizer_name or self.model
        try:
            from transformers import AutoTokenizer

            self._tok = AutoTokenizer.from_pretrained(name, revision=self.revision,
                                                      trust_remote_code=self.trust_remote_code,
                                                      local_files_only=not self.tokenizer_name)
        except Exception:  # no tokenizer here: nothing to check with
            return None
        self.tokenizer_name = name
        return self._tok

    def check_text(self) -> None:
        """Find out, before the manifest, whether completions keep a leading space: the tokenizer decodes a word's
        space alone (byte-level BPE), or the server returns token ids that evalkit decodes (vLLM); else say so."""
        if self.text_decoding is not None:
            return
        tok = self._text_tokenizer()
        if tok is None:
            self.text_decoding = {"by": "server", "leading_space": "not checked (no tokenizer: pass --tokenizer)"}
            return
        if not drops_leading_space(tok):
            self.text_decoding = {"by": "server", "leading_space": "kept (the tokenizer keeps a word's space)"}
            return
        body = {"model": self.model, "prompt": "def", "max_tokens": 1, "temperature": 0.0, **TOKEN_ID_FIELDS}
        status, data = asyncio.run(self._probe("/completions", body))
        if data is not None and token_ids(data["choices"][0]) is not None:
            self._want_ids = True
            self.text_decoding = {"by": "evalkit (token ids from the server)", "leading_space": "kept"}
            return
        self.text_decoding = {"by": "server", "leading_space": "may be lost (SentencePiece-style tokenizer "
                              "decoded without context; the server returns no token ids)"}
        print(f"evalkit: warning: {self.servers[0].url} decodes each completion's new tokens alone and returns no "
              "token ids; with this tokenizer (SentencePiece-style) a completion that begins with a space or "
              "indentation loses one space; use a server that returns token ids (vLLM) for exact text; recorded "
              "as model.text_decoding", file=sys.stderr)

    # ------------------------------------------------------------------------------------------
    # requests
    # ------------------------------------------------------------------------------------------
    def _client(self) -> dict[str, Any]:
        """A worker's keep-alive connections, one per server, opened when first used (see ``http11.py``)."""
        return {}

    def _tls(self) -> Any:
        """One TLS context for all clients (building one reads the CA bundle: 20 ms); none for plain http."""
        if not any(s.url.startswith("https:") for s in self.servers):
            return None
        if self._ssl is None:
            import ssl

            try:
                import certifi

                self._ssl = ssl.create_default_context(cafile=certifi.where())
            except ImportError:
                self._ssl = ssl.create_default_context()
        return self._ssl

    def _body(self, req: GenerationRequest, params: GenerationParams) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(path, JSON body, extra for the Generation) of one sample."""
        limit = req.max_new_tokens or params.max_new_tokens
        stop = list(req.stop) + (["\n"] if req.single_line else [])
        body: dict[str, Any] = {"model": self.model, "max_tokens": limit, "temperature": params.temperature,
                                "top_p": params.top_p, "seed": req.seed}
        extra: dict[str, Any] = {}
        p = req.prompt
        if isinstance(p, ChatPrompt):
            msgs, chat_extra = self._chat_messages(p)
            body.update(messages=msgs, **chat_extra)
            extra["model_input"] = msgs  # what was sent: recorded per sample
            if not chat_extra:
                extra["assistant_prefix"] = ""  # a fresh assistant message: it does not continue the prefix
                stop = [s for s in stop if "```" not in s]
            path = "/chat/completions"
        elif isinstance(p, FimPrompt):
            body["prompt"], extra["model_input"] = self._fim_payload(p)
            if self.fim_prompt == "token_ids":
                body["stop_token_ids"] = list(self.fim_layout().end_ids(self._tokenizer()))
            path = "/completions"
        else:
            body["prompt"] = p
            path = "/completions"
        if path == "/completions" and self._want_ids:
            body.update(TOKEN_ID_FIELDS)
        if stop:
            body["stop"] = stop
        return path, body, extra

    async def _post(self, conns: dict[str, Any], path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.pool.tls = self._tls()
        return await self.pool.post(conns, path, body)

    def generate(self, requests: Sequence[GenerationRequest], params: GenerationParams, on_result: OnResult) -> None:
        if any(isinstance(r.prompt, FimPrompt) for r in requests):
            self.check_fim()
        if any(isinstance(r.prompt, ChatPrompt) for r in requests) and self.chat_mode is None:
            self._probe_chat()
        if any(not isinstance(r.prompt, ChatPrompt) for r in requests):
            self.check_text()
        try:
            asyncio.run(self._generate(requests, params, on_result))
        except Failure as f:
            after = f" (after {self.max_retries} retries)" if f.retry else ""
            raise ServerError(f"{f.what}{after}; what was finished is saved: continue with --resume") from None

    async def _generate(self, requests: Sequence[GenerationRequest], params: GenerationParams,
                        on_result: OnResult) -> None:
        queue: asyncio.Queue[GenerationRequest] = asyncio.Queue()
        for r in requests:
            queue.put_nowait(r)

        async def worker() -> None:
            conns = self._client()
            try:
                while True:
                    try:
                        req = queue.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    await one(conns, req)
            finally:
                for c in conns.values():
                    c.close()

        async def one(client: Any, req: GenerationRequest) -> None:
            path, body, extra = self._body(req, params)
            data = await self._post(client, path, body)
            choice = data["choices"][0]
            if path == "/chat/completions":
                text = (choice.get("message") or {}).get("content") or ""
            else:
                text = choice.get("text") or ""
                ids = token_ids(choice) if self._want_ids else None
                if ids is not None:  # decoded here, after an anchor: a leading space is kept
                    text = decode_after_anchor(self._tok, ids)
            n = (data.get("usage") or {}).get("completion_tokens") or 0
            extra["finish_reason"] = choice.get("finish_reason")
            on_result(req, Generation(text=text, n_tokens=n, extra=extra))

        workers = [asyncio.ensure_future(worker()) for _ in range(min(self.concurrency, len(requests)))]
        try:
            # the first failure (a spent retry budget, a refused request, a journal error) ends the run
            done, _ = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
            for w in done:
                if w.exception() is not None:
                    raise w.exception()  # type: ignore[misc]
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    def render(self, request: GenerationRequest) -> dict[str, Any]:
        p = request.prompt
        if isinstance(p, FimPrompt):
            prompt, text = self._fim_payload(p)
            return {"text": text, **({"ids": prompt} if isinstance(prompt, list) else {})}
        if isinstance(p, ChatPrompt):
            msgs, _ = self._chat_messages(p)
            return {"text": "".join(f"--- {m['role']} ---\n{m['content']}\n" for m in msgs)}
        return {"text": p}
