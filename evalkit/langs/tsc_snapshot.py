"""A start-up snapshot of ``tsc`` with the standard library's declaration files already parsed and bound.

Most of a ``tsc --target esnext main.ts`` run (~2.3 s of CPU here) is parsing and binding the 58 bundled
``lib.*.d.ts`` files (29,000 lines) that every program sees; checking a HumanEval program takes ~0.1 s. Node
(>= 18.20) can start from a snapshot of a prepared heap (``node --snapshot-blob B --build-snapshot entry.js``,
then ``node --snapshot-blob B -- ARGS``). evalkit builds one such snapshot per machine, node and TypeScript
(``$EVALKIT_CACHE_DIR/tsc-snapshot/``, ~35 MB, ~5 s of CPU once): Debian's own ``tsc.js`` is loaded, the
declaration files are parsed and bound with the options evalkit compiles with, and ``tsc``'s own command line
(``executeCommandLine``, what ``tsc`` runs) is the snapshot's entry; its compiler host answers those files from
the snapshot instead of reading and parsing them again. Every sample is still a fresh ``node`` process (nothing
carries over between samples); it type-checks and emits exactly as ``tsc`` (same messages, exit status and
JavaScript: checked when the snapshot is built, against the plain ``tsc``, on a program that compiles and one
that does not; a snapshot that differs is not used). A compile then takes ~0.5 s of CPU.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

from evalkit.langs import built_once, cache_key, tool_version

# the snapshot's entry: Debian's tsc.js without its last lines (which run the command line at once), the
# declaration files of a program compiled with OPTIONS parsed and bound, tsc's command line at start-up
ENTRY = r"""
const fs = require('fs');
const os = require('os');
const path = require('path');
const v8 = require('v8');
const TSC = process.env.EVALKIT_TSC_JS;
const TSDIR = path.dirname(TSC);
const OPTIONS = JSON.parse(process.env.EVALKIT_TSC_OPTIONS);
let src = fs.readFileSync(TSC, 'utf8');
const cut = src.lastIndexOf('// This file actually uses arguments passed on commandline and executes it');
if (cut < 0) throw new Error('tsc.js has no command-line tail where it was expected');
src = src.slice(0, cut) + '\nreturn ts;\n';
const ts = (new Function('module', 'exports', 'require', '__filename', '__dirname', src))({}, {}, require, TSC, TSDIR);
const options = ts.parseCommandLine(OPTIONS).options;
const empty = path.join(os.tmpdir(), `evalkit-tsc-snapshot-${process.pid}.ts`);
fs.writeFileSync(empty, 'export {};\n');
const program = ts.createProgram([empty], options, ts.createCompilerHost(options));
fs.unlinkSync(empty);
const cache = new Map();
for (const sf of program.getSourceFiles()) {
  if (!sf.fileName.startsWith(TSDIR + '/')) continue;
  ts.bindSourceFile(sf, options);
  cache.set(sf.fileName, sf);
}
if (cache.size === 0) throw new Error('no declaration file was parsed');
const createHost = ts.createCompilerHostWorker;
ts.createCompilerHostWorker = function (opts, setParentNodes, system) {
  const host = createHost.apply(this, arguments);
  const read = host.getSourceFile;
  host.getSourceFile = function (fileName, how) {
    const sf = cache.get(fileName);
    const version = typeof how === 'object' ? how.languageVersion : how;
    const format = typeof how === 'object' ? how.impliedNodeFormat : undefined;
    if (sf && !setParentNodes && sf.languageVersion === version && sf.impliedNodeFormat === format) return sf;
    return read.apply(this, arguments);
  };
  return host;
};
v8.startupSnapshot.setDeserializeMainFunction(() => {
  const args = process.argv.slice(1);
  ts.sys.args = args;
  ts.Debug.loggingHost = { log: (_level, s) => ts.sys.write(`${s || ''}${ts.sys.newLine}`) };
  if (ts.sys.setBlocking) ts.sys.setBlocking();
  ts.executeCommandLine(ts.sys, ts.noop, args);
});
"""
GOOD = "function add(x: number, y: number): number {\n  return x + y;\n}\nconsole.log(add(1, 2));\n"
BAD = "function f(x: number): string {\n  return x;\n}\nconst y: number[] = [\"a\"];\nnme;\n"


def tsc_js() -> str | None:
    """Debian's ``tsc.js`` (``/usr/bin/tsc`` -> ``/usr/share/nodejs/typescript/bin/tsc`` -> ``../lib/tsc.js``)."""
    tsc = shutil.which("tsc")
    if tsc is None:
        return None
    js = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(tsc))), "lib", "tsc.js")
    return js if os.path.isfile(js) else None


def _same(blob: Path, options: tuple[str, ...], folder: Path) -> bool:
    """The snapshot and the plain tsc give the same messages, exit status and JavaScript on GOOD and BAD."""
    for i, text in enumerate((GOOD, BAD)):
        outs = []
        for how, argv in (("plain", ("tsc", *options, "main.ts")),
                          ("snap", ("node", f"--snapshot-blob={blob}", "--", *options, "main.ts"))):
            d = folder / f"check-{i}-{how}"
            d.mkdir()
            (d / "main.ts").write_text(text)
            r = subprocess.run(argv, cwd=d, capture_output=True, text=True, timeout=300)
            js = (d / "main.js").read_text() if (d / "main.js").exists() else None
            outs.append((r.returncode, r.stdout, r.stderr, js))
            shutil.rmtree(d)
        if outs[0] != outs[1]:
            return False
    return True


@functools.cache
def snapshot(options: tuple[str, ...]) -> str | None:
    """The snapshot for ``tsc OPTIONS file.ts`` (built here once if missing), or None where it cannot be built
    or does not behave as the plain tsc."""
    js = tsc_js()
    if js is None or shutil.which("node") is None or os.environ.get("EVALKIT_TSC_SNAPSHOT", "1") == "0":
        return None
    version = tool_version(["node", "--version"])
    if version is None:
        return None

    def build(tmp: Path) -> bool:
        import json

        (tmp / "entry.js").write_text(ENTRY)
        env = {**os.environ, "EVALKIT_TSC_JS": js, "EVALKIT_TSC_OPTIONS": json.dumps(list(options))}
        r = subprocess.run(["node", f"--snapshot-blob={tmp / 'tsc.blob'}", "--build-snapshot", str(tmp / "entry.js")],
                           cwd=tmp, env=env, capture_output=True, timeout=900)
        (tmp / "entry.js").unlink()
        return r.returncode == 0 and (tmp / "tsc.blob").is_file() and _same(tmp / "tsc.blob", options, tmp)

    st = os.stat(js)
    key = cache_key(version, os.path.realpath(shutil.which("node") or "node"), js, str(st.st_mtime_ns),
                    str(st.st_size), " ".join(options), ENTRY)
    folder = built_once("tsc-snapshot", key, "tsc.blob", build)
    return str(folder / "tsc.blob") if folder else None
