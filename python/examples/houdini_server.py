"""A wirecall server inside Houdini: handlers run on Houdini's main thread through
``hdefereval.executeInMainThreadWithResult``.

In Houdini (a Python shell or a shelf tool):   exec(open("houdini_server.py").read())
Without Houdini, a stand-in main loop plays Houdini's part:   python houdini_server.py [endpoint]
"""

from __future__ import annotations

import os
import signal
import sys

import wirecall

try:  # inside Houdini
    import hdefereval  # type: ignore[import-not-found]
    import hou  # type: ignore[import-not-found]

    run_in_main_thread = hdefereval.executeInMainThreadWithResult
    standin = None

    def node_children(params):  # type: ignore[no-untyped-def]
        return [n.name() for n in hou.node(params.get("path", "/obj")).children()]

except ImportError:
    standin = wirecall.MainThreadQueue()
    run_in_main_thread = standin.run

    def node_children(params):  # type: ignore[no-untyped-def]
        return {"/obj": ["geo1", "cam1"]}.get((params or {}).get("path", "/obj"), [])


server = wirecall.Server(name="houdini", executor=run_in_main_thread)
server.register("node.children", node_children)
endpoint = server.listen(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WIRECALL_ENDPOINT", "tcp://127.0.0.1:7003"))
print(f"listening on {endpoint}", flush=True)

if standin is not None:
    signal.signal(signal.SIGTERM, lambda *_: standin.stop())
    signal.signal(signal.SIGINT, lambda *_: standin.stop())
    standin.run_forever()
    server.close()
