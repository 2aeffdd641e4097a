// The page's scroll position, owned in one place.
// - Following: while the reader is at the bottom, growth of the conversation (a streaming answer, a new message)
//   keeps the bottom in view. Scrolling up stops that at once (a wheel turn up, a key, the scrollbar, a finger), and a
//   floating "Jump to latest" appears; it scrolls to the bottom and follows again. Reaching the bottom by hand does too.
// - Earlier messages: when the "Show earlier messages" control nears the viewport, the server is asked for the
//   previous batch; when it lands above the reader, the view is shifted by exactly the height added, so what they
//   were reading does not move. The browser's own scroll anchoring is switched off (scribe.css) so that only one
//   mechanism ever adjusts the position.
// Resize observers run after layout and before paint, so neither following nor the shift is ever seen as a jump.
// A streaming answer also says when it grew ("scribe-grew", from stream_view.js): following then scrolls at once,
// before the frame that shows the new text. Scrolled from the resize observer instead (after that frame's layout),
// the scroll event waits for the next frame, and every update of the answer cost the browser two frames.
const EDITABLE = "input, textarea, select, [contenteditable=''], [contenteditable='true']";
const UP_KEYS = new Set(["ArrowUp", "PageUp", "Home"]);

export default {
  template: `
    <button v-show="!atBottom" type="button" class="scribe-jump" data-testid="jump-to-latest" @click="jump"
            title="Scroll to the newest text and follow it">
      <span aria-hidden="true">↓</span> Jump to latest
    </button>`,
  props: {
    content: String, // the id of the element whose growth is followed
    sentinel: String, // the id of the control above the oldest message shown
    threshold: { type: Number, default: 48 }, // this close to the end (px) is "at the bottom"
    catch: { type: Number, default: 160 }, // scrolling down to this close to the end resumes following
    margin: { type: Number, default: 600 }, // earlier messages are asked for when the control is this close
  },
  data() {
    return { atBottom: true };
  },
  mounted() {
    this.scroller = document.scrollingElement || document.documentElement;
    this.following = true;
    this.pending = false;
    this.anchor = null;
    this.wheel = null;
    this.lastTop = this.scroller.scrollTop;
    this.lastHeight = this.scroller.scrollHeight;
    // Captured before any other listener: a scroll this element made itself to follow the answer stops here
    // (see toBottom), every other scroll goes on to the rest of the page.
    this.ownTop = null;
    this.onScroll = (e) => {
      if (e.target !== document) return; // an element's own scroll (a wide code block), which capturing also sees
      if (this.ownTop !== null && Math.abs(this.scroller.scrollTop - this.ownTop) < 1) e.stopImmediatePropagation();
      this.ownTop = null;
      this.scrolled();
    };
    this.onWheel = (e) => this.wheeled(e);
    this.onKey = (e) => { if (UP_KEYS.has(e.key) && !e.target.closest?.(EDITABLE)) this.release(); };
    this.onResize = () => this.resized();
    this.onGrew = () => { if (this.following) this.toBottom(); };
    window.addEventListener("scroll", this.onScroll, { passive: true, capture: true });
    window.addEventListener("wheel", this.onWheel, { passive: true });
    window.addEventListener("keydown", this.onKey, true);
    window.addEventListener("resize", this.onResize);
    document.addEventListener("scribe-grew", this.onGrew);
    this.resizeObserver = new ResizeObserver(this.onResize);
    this.resizeObserver.observe(document.body);
    this.contentEl = this.content && document.getElementById(this.content);
    if (this.contentEl) this.resizeObserver.observe(this.contentEl);
    this.toBottom();
    // Watch the "earlier" control only once the page shows its newest messages, or it would load everything.
    requestAnimationFrame(() => this.watchSentinel());
  },
  unmounted() {
    window.removeEventListener("scroll", this.onScroll, { capture: true });
    window.removeEventListener("wheel", this.onWheel);
    window.removeEventListener("keydown", this.onKey, true);
    window.removeEventListener("resize", this.onResize);
    document.removeEventListener("scribe-grew", this.onGrew);
    this.resizeObserver?.disconnect();
    clearTimeout(this.settleTimer);
    this.intersectionObserver?.disconnect();
  },
  methods: {
    distance() {
      const s = this.scroller;
      return s.scrollHeight - s.scrollTop - s.clientHeight;
    },
    remember() {
      this.lastTop = this.scroller.scrollTop;
      this.lastHeight = this.scroller.scrollHeight;
      this.atBottom = this.distance() <= this.threshold;
    },
    release() {
      this.following = false;
      this.wheel = null;
      this.anchor = this.findAnchor();
    },
    // A wheel turned down that the page runs out of before the wheel does means the reader went to the end. The
    // browser scrolls on another thread, against the page's size as it last knew it: with text arriving fast on a
    // busy machine that can stop a few lines short of the true end, and no scroll event alone would tell.
    wheeled(e) {
      if (e.deltaY < 0) return this.release();
      if (e.deltaY <= 0 || this.following) return;
      const px = e.deltaY * (e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? this.scroller.clientHeight : 1);
      this.wheel = this.wheel || { from: this.scroller.scrollTop, asked: 0 };
      this.wheel.asked += px;
      this.settleLater();
    },
    settleLater() {
      clearTimeout(this.settleTimer);
      this.settleTimer = setTimeout(() => this.settled(), 300);
    },
    settled() {
      const wheel = this.wheel;
      this.wheel = null;
      if (!wheel || this.following) return;
      const moved = this.scroller.scrollTop - wheel.from;
      if (wheel.asked - moved > this.threshold && this.distance() <= this.scroller.clientHeight) this.jump();
    },
    scrolled() {
      const top = this.scroller.scrollTop;
      const height = this.scroller.scrollHeight;
      const distance = this.distance();
      // Upward with nothing removed is the reader (content that shrinks also pulls the position up, but is not).
      if (top < this.lastTop - 1 && height >= this.lastHeight) this.following = false;
      else if (!this.following && (distance <= this.threshold || (top > this.lastTop && distance <= this.catch))) {
        // Back at the bottom. Heading down, "nearly" counts: text that arrived since the browser last laid out
        // the page can leave even a scroll to the very end a few lines short of the new end.
        this.following = true;
        this.anchor = null;
        this.toBottom();
        return;
      }
      if (!this.following) this.anchor = this.findAnchor();
      if (this.wheel) this.settleLater();
      this.remember();
    },
    resized() {
      if (this.following) this.toBottom();
      else this.keepAnchor();
      this.remember();
    },
    // Following the answer scrolls the page on every update. Quasar's layout watches the window's scroll and answers
    // each scroll event with an animation frame of its own, which drew nothing and cost the browser a second frame
    // per update (about a sixth of its CPU while an answer streamed); it needs no news of these scrolls, so their
    // events end at this element's capturing listener. The reader's own scrolls reach everything as before.
    toBottom() {
      const s = this.scroller;
      const before = s.scrollTop;
      s.scrollTop = s.scrollHeight;
      if (s.scrollTop !== before) this.ownTop = s.scrollTop;
      this.remember();
    },
    jump() {
      this.following = true;
      this.anchor = null;
      this.toBottom();
    },
    // The first message still (partly) in view, and where it is: what must stay put while content changes above.
    findAnchor() {
      const messages = (this.contentEl || document).querySelectorAll('[data-testid="message"]');
      let lo = 0;
      let hi = messages.length - 1;
      let found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (messages[mid].getBoundingClientRect().bottom > 0) { found = mid; hi = mid - 1; } else lo = mid + 1;
      }
      if (found < 0) return null;
      return { el: messages[found], top: messages[found].getBoundingClientRect().top };
    },
    keepAnchor() {
      const anchor = this.anchor;
      if (!anchor || !anchor.el.isConnected) return;
      const shift = anchor.el.getBoundingClientRect().top - anchor.top;
      if (Math.abs(shift) >= 1) this.scroller.scrollTop += shift;
      // Not re-measured: a shift the browser had to clamp is retried on the next resize, when there is room.
    },
    watchSentinel() {
      const el = this.sentinel && document.getElementById(this.sentinel);
      if (!el) return;
      this.sentinelEl = el;
      el.addEventListener("click", () => this.request());
      this.intersectionObserver = new IntersectionObserver((entries) => {
        if (entries.some((e) => e.isIntersecting)) this.request();
      }, { rootMargin: `${this.margin}px 0px 0px 0px` });
      this.intersectionObserver.observe(el);
    },
    requested() {
      this.pending = true;
      if (!this.following) this.anchor = this.findAnchor();
    },
    request() {
      if (this.pending && performance.now() - this.pendingSince < 15000) return; // a lost reply never blocks for good
      this.requested();
      this.pendingSince = performance.now();
      this.$emit("load");
    },
    // The server added a batch (and says whether more remain): once it is laid out, ask again if still in view.
    loaded(more) {
      this.$nextTick(() => requestAnimationFrame(() => {
        this.resized();
        this.pending = false;
        if (!more || !this.sentinelEl) return;
        const box = this.sentinelEl.getBoundingClientRect();
        if (box.height && box.bottom > -this.margin && box.top < window.innerHeight) this.request();
      }));
    },
  },
};
