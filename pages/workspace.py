"""The workspace: projects on the side, the selected project's messages, the prompt box.

A page is only a view. It builds each message from the server's state (a snapshot for a live answer, the stored
text otherwise), then follows live answers through the stream manager; generation never depends on the page.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator, Sequence
from html import escape
from pathlib import Path
from typing import Any

from nicegui import ui
from nicegui.events import KeyEventArguments

from components.appearance import Appearance
from components.autoscroll import AutoScroll
from components.connection_status import connection_status
from components.dark_mode_guard import guard_dark_mode
from components.earlier import EarlierMessages
from components.message_card import AssistantCard, UserCard
from components.quick_settings import QuickSettings
from components.stream_view import Op
from pages.housekeeping import watch_page_end
from services.app_services import AppServices, current
from services.errors import ScribeError
from services.export import MEDIA_TYPE, export_filename, export_markdown
from services.preferences import PreferenceError, Preferences, light_and_dark_styles
from services.render_cache import RenderCache
from services.rendering import render_static
from services.storage import MessageRecord, ProjectRecord

OWNER = 'local'
CSS = (Path(__file__).parent.parent / 'components' / 'scribe.css').read_text()
DEFAULT_TITLE = 'New project'
PAGE_SIZE = 20  # messages built when a project opens, and per batch of earlier ones
FIRST_OUTPUT_WAIT = 0.05  # seconds a new answer's card may wait for its first characters

#: Rendered stored answers of recently shown messages (services/render_cache.py).
_static_cache = RenderCache()


def _static_key(message: MessageRecord, text: str) -> tuple[str, int, str]:
    return (message.id, len(text), message.streaming_status)


def _static_ops(message: MessageRecord, text: str) -> bytes:
    """A stored answer's display operations as JSON, which its page's HTML takes as it is. Rendering a long one
    costs a highlighter pass: the most recent ones are kept."""
    key = _static_key(message, text)
    encoded = _static_cache.get_encoded(key)
    if encoded is None:
        encoded = _static_cache.put(key, render_static(text))
    return encoded


def _render_all(texts: dict[tuple[str, int, str], str]) -> dict[tuple[str, int, str], list[Op]]:
    return {key: render_static(text) for key, text in texts.items()}


async def page_look(services: AppServices, on_change: Callable[[Preferences], None] | None = None, *,
                    preview: bool = False) -> Appearance:
    """Scribe's style sheet and the user's look (theme, code colours, cursor, ...), kept live on this page."""
    store = services.preferences
    prefs = await store.get(OWNER)
    watch_page_end()
    ui.add_css(CSS)
    guard_dark_mode()
    return Appearance(prefs, owner=OWNER, subscribe=store.subscribe, on_change=on_change, preview=preview)


def top_bar() -> ui.header:
    """The bar across the top of every page (scribe.css keeps it one line on a narrow screen)."""
    return ui.header().classes('scribe-bar items-center justify-between q-px-md').style(
        'border-bottom: 1px solid var(--scribe-border)')


@contextlib.contextmanager
def side_page_bar(title: str, back_testid: str) -> Iterator[None]:
    """The top bar of a page beside the workspace: back to it and the page's title on the left; what is built
    inside the block goes on the right."""
    with top_bar():
        with ui.row().classes('items-center gap-2'):
            ui.button(icon='arrow_back', on_click=lambda: ui.navigate.to('/')).props(
                f'flat round dense data-testid={back_testid}').tooltip('Back to the workspace')
            ui.label(title).classes('text-lg font-semibold')
        with ui.row().classes('items-center gap-3'):
            yield


class Workspace:
    def __init__(self, services: AppServices, project: ProjectRecord | None) -> None:
        self.services = services
        self.project = project
        self.messages_box: ui.column
        self.prompt: ui.textarea
        self.prompt_error: ui.label
        self.title: ui.label
        self.projects: list[ProjectRecord] = []
        # Per page: ``@ui.refreshable_method`` would keep every page's Workspace reachable from the class.
        self.project_list = ui.refreshable(self._project_list)
        self.shown: set[str] = set()
        self._unwatch: Callable[[], None] | None = None
        self.earlier: EarlierMessages | None = None
        self._held: list[MessageRecord] | None = None
        self.autoscroll: AutoScroll
        self.export_button: ui.button
        self.prefs = services.preferences.defaults
        self.cards: weakref.WeakSet[AssistantCard] = weakref.WeakSet()
        self.quick: QuickSettings | None = None

    async def build(self) -> None:
        self.appearance = await page_look(self.services, self._prefs_changed)
        self.prefs = self.appearance.prefs
        projects = await self.services.storage.list_projects(OWNER)
        with top_bar():
            with ui.row().classes('items-center gap-2'):
                ui.button(icon='menu', on_click=lambda: drawer.toggle()).props('flat round dense')
                ui.label('Scribe').classes('text-lg font-semibold')
                self.title = ui.label(self.project.title if self.project else '').classes(
                    'text-sm text-grey-7').props('data-testid=project-title')
            with ui.row().classes('items-center gap-2'):
                self.export_button = ui.button(icon='download', on_click=self.export).props(
                    'flat round dense data-testid=export-button')
                self.export_button.tooltip('Export as Markdown')
                self.export_button.set_visibility(self.project is not None)
                self.quick = QuickSettings(self.prefs, styles=light_and_dark_styles(), save=self.save_preference)
                ui.button(icon='settings', on_click=lambda: ui.navigate.to('/settings')).props(
                    'flat round dense data-testid=settings-link').tooltip('Settings')
                connection_status()
        # Open beside the conversation where there is room (1024 px and up); on a phone closed until the menu opens
        # it, instead of covering the conversation the moment the page opens.
        with ui.left_drawer(value=None).classes('q-pa-sm').props('width=260 bordered') as drawer:
            ui.button('New project', icon='add', on_click=self.new_project).props(
                'unelevated no-caps data-testid=new-project-button').classes('w-full q-mb-sm')
            self.projects = projects
            self.project_list()
        with ui.column().classes('scribe-main q-pa-md gap-3') as self.messages_box:
            if self.project is None:
                ui.label('Ask for some code: a new project starts with your first prompt.').classes(
                    'text-grey-7 q-mt-xl self-center').props('data-testid=empty-state')
            else:
                storage, project_id = self.services.storage, self.project.id
                newest, older = await storage.newest_messages(project_id, PAGE_SIZE)
                # Watch before the next await, so a message sent meanwhile is not missed; hold it until the
                # messages listed before it are shown.
                self._held = []
                self._watch()
                if older:
                    self.earlier = EarlierMessages(
                        older, newest[0].seq, batch_size=PAGE_SIZE, prepare=self._prerender, render=self._card,
                        fetch=lambda before, limit: storage.newest_messages(project_id, limit, before=before))
                await self._prerender(newest)
                for message in newest:
                    self._card(message)
                held, self._held = self._held, None
                self._show_new(held)
        with ui.page_sticky('bottom', y_offset=14):
            self.autoscroll = AutoScroll(self.messages_box,
                                         sentinel=self.earlier.control if self.earlier is not None else None,
                                         on_load=self.earlier.load if self.earlier is not None else None)
        ui.keyboard(on_key=self._on_key, ignore=[])
        with ui.footer().classes('scribe-bar q-pa-sm').style('border-top: 1px solid var(--scribe-border)'):
            with ui.column().classes('scribe-main gap-1'):
                with ui.row().classes('w-full items-end no-wrap gap-2'):
                    self.prompt = ui.textarea(placeholder='Ask for code… (Enter sends, Shift+Enter for a new line)')
                    self.prompt.props('autogrow outlined dense autofocus data-testid=prompt-input '
                                      'input-style="max-height: 30vh"').classes('col-grow')
                    self.prompt.on('keydown', self.send, js_handler='''(e) => {
                        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); emit(); }
                    }''')
                    ui.button(icon='send', on_click=self.send).props('unelevated data-testid=send-button')
                self.prompt_error = ui.label('').classes('scribe-prompt-error').props('data-testid=prompt-error')
                self.prompt_error.set_visibility(False)

    def _prefs_changed(self, prefs: Preferences) -> None:
        """Preferences changed (on this page or another): open answers and the quick menu follow at once."""
        self.prefs = prefs
        for card in list(self.cards):
            card.set_display(streaming=prefs.streaming, speed=prefs.speed)
        if self.quick is not None:
            self.quick.apply(prefs)

    async def save_preference(self, name: str, value: Any) -> None:
        try:
            await self.services.preferences.update(OWNER, {name: value})
        except PreferenceError as exc:
            ui.notify(str(exc), type='negative')
            if self.quick is not None:
                self.quick.apply(self.services.preferences.cached(OWNER))

    def _project_list(self) -> None:
        """One element for the whole list, plain links inside: an element, a section, a label and a click handler
        per project came to 300 elements on every page of a user with a hundred projects, built on every page load
        and walked by every update of the page, and they made a full garbage collection take half a second."""
        current_id = self.project.id if self.project is not None else None
        links = ''.join(
            f'<a class="scribe-project{" active" if p.id == current_id else ""}" href="/projects/{escape(p.id)}" '
            f'data-project-id="{escape(p.id)}" title="{escape(p.title)}">{escape(p.title)}</a>'
            for p in self.projects)
        ui.html(links, sanitize=False, tag='nav').classes('scribe-projects').props('data-testid=project-list')

    async def _retitle(self, title: str) -> None:
        assert self.project is not None
        self.project = await self.services.storage.rename_project(self.project.id, title, OWNER) or self.project
        self.title.text = self.project.title
        self.projects = await self.services.storage.list_projects(OWNER)
        self.project_list.refresh()

    def _watch(self) -> None:
        """Prompts sent from another tab on this project appear here too, live."""
        if self.project is None or self._unwatch is not None:
            return
        self._unwatch = self.services.manager.watch_project(self.project.id, self._show_new)
        ui.context.client.on_delete(self._unwatch)

    def _show_new(self, messages: list[MessageRecord]) -> None:
        if self._held is not None:
            self._held.extend(messages)
            return
        self._show(messages)

    def _show(self, messages: list[MessageRecord]) -> None:
        with self.messages_box:
            for message in messages:
                if message.id not in self.shown:
                    self._card(message)

    async def _prerender(self, messages: Sequence[MessageRecord]) -> None:
        """Render stored answers on a worker thread: a batch of long ones is about a second of highlighting, which
        the event loop (every page's live streams) should not wait for. ``_card`` then finds them cached."""
        manager = self.services.manager
        texts: dict[tuple[str, int, str], str] = {}
        for message in messages:
            if message.role != 'assistant' or manager.session(message.id) is not None:
                continue
            text = message.content or message.partial_content or ''
            key = _static_key(message, text)
            if key not in _static_cache:
                texts[key] = text
        if texts:
            # Stored here, on the loop's thread: the cache is not made for several threads at once.
            for key, ops in (await self.services.run_in_worker(_render_all, texts)).items():
                _static_cache.put(key, ops)

    async def export(self) -> None:
        """The whole project (not only the messages shown), read fresh, with the live text of any answer still
        being written; formatted on a worker thread, as a long project takes a noticeable moment."""
        if self.project is None:
            return
        storage = self.services.storage
        project = await storage.get_project(self.project.id, OWNER)
        if project is None:
            ui.notify('This project no longer exists.', type='negative')
            return
        messages = await storage.list_messages(project.id, OWNER)
        manager = self.services.manager
        live = {m.id: session.text for m in messages if (session := manager.session(m.id)) is not None}
        markdown = await self.services.run_in_worker(export_markdown, project.title, messages, live=live)
        ui.download.content(markdown.encode('utf-8'), export_filename(project.title), MEDIA_TYPE)

    def _card(self, message: MessageRecord) -> None:
        self.shown.add(message.id)
        if message.role != 'assistant':
            UserCard(message.id, message.content)
            return
        manager = self.services.manager
        attachment = manager.attach(message.id)
        if attachment is not None:
            card = AssistantCard(message.id, ops=attachment.ops, position=attachment.position,
                                 status=attachment.status, metadata=attachment.metadata,
                                 subscription=attachment.subscription, on_stop=self.stop,
                                 on_continue=self.continue_answer, on_retry=self.retry_answer,
                                 on_pause=self.pause_answer, snapshot=self.snapshot,
                                 live_display=self.prefs.streaming, speed=self.prefs.speed)
        else:
            text = message.content or message.partial_content or ''
            card = AssistantCard(message.id, ops=_static_ops(message, text), position=0,
                                 status=message.streaming_status, metadata=message.stream_metadata or {},
                                 error=message.error, snapshot=self.snapshot, on_stop=self.stop,
                                 on_continue=self.continue_answer, on_retry=self.retry_answer,
                                 on_pause=self.pause_answer, live_display=self.prefs.streaming,
                                 speed=self.prefs.speed)
        self.cards.add(card)

    def snapshot(self, message_id: str) -> tuple[int, list[Op]]:
        """A client saw a gap: the live state if the answer is still streaming (else its card reloads)."""
        attachment = self.services.manager.attach(message_id)
        if attachment is None:
            return 0, []
        attachment.subscription.close()
        return attachment.position, attachment.ops

    async def _on_key(self, event: KeyEventArguments) -> None:
        """Esc stops whatever this project is writing, wherever the focus is."""
        if self.quick is not None and self.quick.menu.value:
            return  # this Escape closes the quick menu (on its key-up), it does not stop the answer
        if event.key.name == 'Escape' and event.action.keydown and self.project is not None:
            manager = self.services.manager
            for message_id in manager.active_ids():
                session = manager.session(message_id)
                if session is not None and session.project_id == self.project.id:
                    await manager.stop(message_id)

    async def stop(self, message_id: str) -> None:
        await self.services.manager.stop(message_id)

    async def continue_answer(self, card: AssistantCard) -> None:
        manager = self.services.manager
        try:
            await manager.continue_message(card.message_id, owner=OWNER)
        except ScribeError as exc:
            ui.notify(str(exc), type='negative')
            return
        attachment = manager.attach(card.message_id)
        if attachment is not None:
            card.follow(attachment.ops, attachment.position, attachment.status, attachment.subscription)

    async def pause_answer(self, card: AssistantCard, paused: bool) -> None:
        manager = self.services.manager
        if paused:
            manager.pause(card.message_id)
            return
        live = manager.session(card.message_id) is not None
        try:
            await manager.resume(card.message_id, owner=OWNER)
        except ScribeError as exc:
            ui.notify(str(exc), type='negative')
            return
        if not live:  # the pause outlasted its limit: the answer is being continued from its saved text
            attachment = manager.attach(card.message_id)
            if attachment is not None:
                card.follow(attachment.ops, attachment.position, attachment.status, attachment.subscription)

    async def retry_answer(self, card: AssistantCard) -> None:
        try:
            answer = await self.services.manager.retry(card.message_id, owner=OWNER)
        except ScribeError as exc:
            ui.notify(str(exc), type='negative')
            return
        self._show_new([answer])

    async def new_project(self) -> None:
        project = await self.services.storage.create_project(DEFAULT_TITLE, OWNER)
        ui.navigate.to(f'/projects/{project.id}')

    async def send(self) -> None:
        text = self.prompt.value or ''
        self.prompt_error.set_visibility(False)
        # This page's own new messages also come back through the project watcher; hold them, so the answer's
        # card can be built once its first characters exist (below).
        self._held = []
        try:
            try:
                self.services.manager.validate(text)
                title = text.strip().split('\n', 1)[0][:60]
                if self.project is None:
                    self.project = await self.services.storage.create_project(title, OWNER)
                    ui.navigate.history.push(f'/projects/{self.project.id}')
                    self.messages_box.clear()
                    await self._retitle(title)
                elif self.project.title == DEFAULT_TITLE:
                    await self._retitle(title)
                user, answer = await self.services.manager.start(self.project.id, text, owner=OWNER)
            except ScribeError as exc:
                self.prompt_error.text = str(exc)
                self.prompt_error.set_visibility(True)
                return
            self.prompt.value = ''
            self.export_button.set_visibility(True)
            self._watch()
            self._show([user])
            # A provider that answers at once: its first characters arrive with the card itself, in one update,
            # instead of a card and then, after the browser has drawn it, another message with the text.
            manager = self.services.manager
            await manager.first_output(answer.id, FIRST_OUTPUT_WAIT)
            if manager.session(answer.id) is None:  # already finished: show it as stored, not as it started
                answer = await self.services.storage.get_message(answer.id, OWNER) or answer
            self._show([answer])
        finally:
            held, self._held = self._held or [], None
            self._show(held)
        # One jump, once both cards exist (they go out together): each is a message the browser handles, with a
        # layout, before it can draw the answer's first characters.
        self.autoscroll.jump()


@ui.page('/')
async def index_page() -> None:
    await Workspace(current(), None).build()


@ui.page('/projects/{project_id}')
async def project_page(project_id: str) -> None:
    services = current()
    project = await services.storage.get_project(project_id, OWNER)
    if project is None:
        await page_look(services)
        with ui.column().classes('absolute-center items-center'):
            ui.label('This project does not exist, or it is not yours.').props('data-testid=not-found')
            ui.link('Back to the workspace', '/')
        return
    await Workspace(services, project).build()
