"""A wirecall server inside Blender: handlers run on Blender's main thread, taken from a
queue by a ``bpy.app.timers`` callback (Blender's API may only be used from there).

In Blender:   blender --python blender_server.py
Without Blender, a stand-in timer loop plays Blender's part:   python blender_server.py [endpoint]
"""

from __future__ import annotations

import os
import signal
import sys
import time

import wirecall

queue = wirecall.MainThreadQueue()

try:  # inside Blender
    import bpy  # type: ignore[import-not-found]

    def scene_objects(params):  # type: ignore[no-untyped-def]
        return [o.name for o in bpy.context.scene.objects]

    def register_timer(fn):  # type: ignore[no-untyped-def]
        bpy.app.timers.register(fn, persistent=True)

    standin = False
except ImportError:
    _objects = ["Camera", "Cube", "Light"]

    def scene_objects(params):  # type: ignore[no-untyped-def]
        return list(_objects)

    _timers = []

    def register_timer(fn):  # type: ignore[no-untyped-def]
        _timers.append(fn)

    standin = True


def drain_queue():  # type: ignore[no-untyped-def]
    queue.process()
    return 0.01  # call again in 10 ms


register_timer(drain_queue)
server = wirecall.Server(name="blender", executor=queue.run)
server.register("scene.objects", scene_objects)
endpoint = server.listen(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("WIRECALL_ENDPOINT", "tcp://127.0.0.1:7002"))
print(f"listening on {endpoint}", flush=True)

if standin:  # Blender's event loop, standing in: run each timer when it is due
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    signal.signal(signal.SIGINT, lambda *_: running.__setitem__(0, False))
    while running[0]:
        time.sleep(min(fn() for fn in _timers))
    server.close()
