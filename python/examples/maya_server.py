"""A wirecall server inside Maya: handlers run on Maya's main thread.

In Maya (mayapy or the Script Editor):   exec(open("maya_server.py").read())
Without Maya, a stand-in main loop plays Maya's part:   python maya_server.py [endpoint]
Then, from anywhere:   npx wirecall call tcp://127.0.0.1:7001 scene.objects
"""

from __future__ import annotations

import os
import signal
import sys

import wirecall

try:  # inside Maya
    import maya.cmds as cmds  # type: ignore[import-not-found]
    import maya.utils  # type: ignore[import-not-found]

    run_in_main_thread = maya.utils.executeInMainThreadWithResult
    standin = None
except ImportError:  # a stand-in: the main thread runs this queue, as Maya runs its idle queue
    standin = wirecall.MainThreadQueue()
    run_in_main_thread = standin.run

    class cmds:  # the few maya.cmds calls this example makes
        _scene = ["persp", "top", "pCube1"]

        @classmethod
        def ls(cls, **kwargs):  # type: ignore[no-untyped-def]
            return list(cls._scene)

        @classmethod
        def polySphere(cls, name: str = "pSphere1"):  # type: ignore[no-untyped-def]
            cls._scene.append(name)
            return [name]


server = wirecall.Server(name="maya", executor=run_in_main_thread)


@server.method("scene.objects")
def scene_objects(params):  # type: ignore[no-untyped-def]
    return cmds.ls(type="transform")


@server.method("scene.sphere")
def scene_sphere(params, ctx):  # type: ignore[no-untyped-def]
    name = (params or {}).get("name", "pSphere1")
    return cmds.polySphere(name=name)[0]


endpoint = server.listen(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WIRECALL_ENDPOINT", "tcp://127.0.0.1:7001"))
print(f"listening on {endpoint}", flush=True)

if standin is not None:
    signal.signal(signal.SIGTERM, lambda *_: standin.stop())
    signal.signal(signal.SIGINT, lambda *_: standin.stop())
    standin.run_forever()  # Maya's main loop, standing in
    server.close()
