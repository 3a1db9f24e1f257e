"""The server's main process: uvicorn's supervisor, and the exporters beside it.

`python -m tradenet.serve <uvicorn's options>` (deploy/serve.sh) runs uvicorn exactly as
`python -m uvicorn` would, after starting the exporters (the RabbitMQ feed and the webhooks;
`updates.delivery`) on threads of this process. With several workers, this process only
supervises them, so the exporters have an interpreter to themselves: in a worker they shared
its lock with the threads running views, and under write load got too little of it to keep up
(docs/performance.md#serving-model). The workers, which inherit TRADENET_DELIVERY_IN_MAIN,
leave them to this process; one of each is active per deployment as before (an advisory
lock), so several servers stand by for each other. Nothing extra to start: the process
count is uvicorn's.
"""

from __future__ import annotations

import os


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tradenet.settings")

    import django

    django.setup()

    import uvicorn

    from updates.delivery import IN_MAIN, main_process_workers

    os.environ[IN_MAIN] = "1"  # before uvicorn starts the workers, which inherit it

    workers = main_process_workers()
    for worker in workers:
        worker.start()
    try:
        uvicorn.main()  # uvicorn's own command line; it exits when the server stops
    finally:
        for worker in workers:
            worker.stop()


if __name__ == "__main__":
    main()
