"""Scribe's entry point: command line and environment → settings → services → NiceGUI."""

from __future__ import annotations

import logging
import sys

from services.allocator import restart_with_system_allocator
from services.errors import ConfigError
from services.settings import Settings, load_settings


def main(argv: list[str] | None = None) -> None:
    # Before anything heavy is imported: the same command again on glibc's malloc (services/allocator.py).
    restart_with_system_allocator()
    try:
        settings = load_settings(argv)
    except ConfigError as exc:
        print(f'scribe: {exc}', file=sys.stderr)
        raise SystemExit(2) from None
    run(settings)


def run(settings: Settings) -> None:
    from nicegui import app, ui

    import pages.housekeeping
    import pages.metrics  # registers /metrics
    import pages.settings  # registers /settings
    import pages.stats  # registers /stats
    import pages.workspace  # registers the pages
    from services.app_services import AppServices, install
    from services.http_protocol import UpgradeSafeHTTPProtocol

    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
    services = AppServices.build(settings)
    services.prepare()
    install(services)
    app.on_startup(services.start)
    app.on_shutdown(services.stop)
    pages.housekeeping.install(services)
    if settings.native:
        app.native.start_args['gui'] = 'qt'
    # Tailwind off: its in-browser runtime re-scans the page on every DOM change, and a streaming answer is a
    # stream of DOM changes (a quarter of the browser's CPU while an answer streamed); scribe.css has the few
    # utility classes the pages use. No storage_secret: it is only for NiceGUI's app.storage.user/browser, which
    # Scribe does not use, and with it NiceGUI keeps a user-storage dict for every browser that ever visits.
    # http: uvicorn's protocol without the keep-alive timer that closed reused connections' websockets
    # (services/http_protocol.py).
    ui.run(host=settings.host, port=settings.port, title='Scribe', show=settings.show and not settings.native,
           native=settings.native, reload=False, favicon='✍️',
           uvicorn_logging_level='warning', show_welcome_message=settings.show, tailwind=False,
           http=UpgradeSafeHTTPProtocol)


if __name__ in {'__main__', '__mp_main__'}:
    main()
