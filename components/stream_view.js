// The live answer: applies the small operations of services/rendering.py to the DOM, in order.
// Every batch carries the position of its first event; a position already seen is skipped (NiceGUI replays
// messages after a reconnect), a gap asks the server for a snapshot instead of showing a hole.
const EXT = {
  python: "py", py: "py", typescript: "ts", ts: "ts", tsx: "tsx", javascript: "js", js: "js", jsx: "jsx",
  rust: "rs", rs: "rs", sql: "sql", bash: "sh", sh: "sh", shell: "sh", zsh: "sh", console: "sh", go: "go",
  json: "json", yaml: "yaml", yml: "yaml", toml: "toml", html: "html", css: "css", c: "c", cpp: "cpp",
  "c++": "cpp", java: "java", kotlin: "kt", ruby: "rb", php: "php", swift: "swift", diff: "diff", markdown: "md",
  md: "md", dockerfile: "Dockerfile", makefile: "Makefile", text: "txt",
};
const LINES_PER_GROUP = 32;
const TYPING_MS = 600; // the cursor holds still while text arrives, and blinks once it has paused this long

export default {
  template: `<div class="scribe-stream" :class="{ streaming: live }"></div>`,
  props: { initial: Array, position: Number, streaming: Boolean },
  data() {
    return { live: this.streaming };
  },
  mounted() {
    this.seq = this.position || 0;
    this.blocks = [];
    this.resyncing = false;
    this.applyOps(this.initial || []);
  },
  unmounted() {
    clearTimeout(this.typingTimer);
  },
  methods: {
    apply(first, batches) {
      if (this.resyncing) return;
      for (let k = 0; k < batches.length; k++) {
        const position = first + k;
        if (position <= this.seq) continue;
        if (position !== this.seq + 1) {
          this.resyncing = true;
          this.$emit("resync", this.seq);
          return;
        }
        this.applyOps(batches[k]);
        this.seq = position;
      }
    },
    reset(position, ops, part) {
      if (part === 0) {
        this.$el.replaceChildren();
        this.blocks = [];
      }
      this.applyOps(ops);
      this.seq = position;
      this.resyncing = false;
    },
    setStreaming(live) {
      this.live = live;
      this.markLive();
    },
    applyOps(ops) {
      for (const op of ops) this.applyOp(op);
      this.markLive();
      if (!ops.length) return;
      if (this.live) this.typing();
      // components/autoscroll.js follows the new text now, before the frame that shows it.
      this.$el.dispatchEvent(new Event("scribe-grew", { bubbles: true }));
    },
    // Like a text editor's caret, the cursor holds still while text arrives and blinks once it pauses (scribe.css).
    typing() {
      this.$el.classList.add("sv-typing");
      clearTimeout(this.typingTimer);
      this.typingTimer = setTimeout(() => this.$el.classList.remove("sv-typing"), TYPING_MS);
    },
    applyOp(op) {
      const [kind, i] = op;
      switch (kind) {
        case "P": this.prose(i).done.insertAdjacentHTML("beforeend", op[2]); break;
        case "p": this.setTail(this.prose(i), op[2]); break;
        case "q": this.growTail(this.prose(i), op[2], op[3]); break;
        case "C": this.code(i, op[2], op[3]); break;
        case "L": this.lines(this.blocks[i], op[2], op[3]); break;
        case "t": this.setTail(this.blocks[i], op[2]); break;
        case "u": this.growTail(this.blocks[i], op[2], op[3]); break;
        case "g": this.setLanguage(this.blocks[i], op[2]); break;
        case "X": this.close(this.blocks[i]); break;
      }
    },
    setTail(b, html) {
      b.tailHtml = html;
      b.tail.innerHTML = html;
    },
    growTail(b, keep, html) {
      // The tail's html as the server sent it (innerHTML would re-serialise it), kept to `keep` UTF-16 units.
      this.setTail(b, (b.tailHtml || "").slice(0, keep) + html);
    },
    prose(i) {
      let b = this.blocks[i];
      if (!b) {
        const el = document.createElement("div");
        el.className = "sv-prose";
        el.innerHTML = '<div class="sv-done"></div><div class="sv-tail"></div>';
        b = this.blocks[i] = { kind: "prose", el, done: el.firstChild, tail: el.lastChild };
        this.$el.appendChild(el);
      }
      return b;
    },
    code(i, language, info) {
      if (this.blocks[i]) return this.blocks[i];
      const el = document.createElement("div");
      el.className = "sv-code";
      el.dataset.testid = "code-block";
      el.dataset.streaming = "true";
      el.innerHTML =
        '<div class="sv-code-head"><span class="sv-lang"></span><span class="sv-actions">' +
        '<button type="button" class="sv-btn" data-testid="copy-code-button" title="Copy code">Copy</button>' +
        '<button type="button" class="sv-btn" data-testid="download-code-button" title="Download">Download</button>' +
        '</span></div><pre class="scribe-code"><code data-testid="code-text"><span class="sv-lines"></span>' +
        '<span class="sv-ctail"></span></code></pre>';
      const b = { kind: "code", el, code: el.querySelector("code"), linesEl: el.querySelector(".sv-lines"),
                  tail: el.querySelector(".sv-ctail"), info: info || "", count: 0 };
      this.setLanguage(b, language);
      // Lines are blocks, and a selection copied across blocks gets an extra newline at each: copy the code's own
      // characters instead (a cloned range's textContent has no block breaks, and no line numbers).
      b.code.addEventListener("copy", (e) => {
        const selection = window.getSelection();
        if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return;
        e.clipboardData.setData("text/plain", selection.getRangeAt(0).cloneContents().textContent);
        e.preventDefault();
      });
      el.querySelector('[data-testid="copy-code-button"]').addEventListener("click", (e) => this.copy(b, e.target));
      el.querySelector('[data-testid="download-code-button"]').addEventListener("click", () => this.download(b));
      this.blocks[i] = b;
      this.$el.appendChild(el);
      return b;
    },
    setLanguage(b, language) {
      b.language = language || "text";
      b.el.dataset.language = b.language;
      b.el.querySelector(".sv-lang").textContent = b.info || b.language;
    },
    // Finished lines are kept in groups of LINES_PER_GROUP: a line added at the end then lays out and paints
    // within its group, and the browser reuses every full group as it is, however long the block grows.
    lines(b, start, htmls) {
      let group = b.linesEl.lastChild;
      let html = "";
      for (let k = 0; k < htmls.length; k++) {
        const n = start + k;
        if (n < b.count) {
          b.linesEl.childNodes[Math.floor(n / LINES_PER_GROUP)].childNodes[n % LINES_PER_GROUP].innerHTML = htmls[k];
          continue;
        }
        if (b.count % LINES_PER_GROUP === 0) {
          if (html) group.insertAdjacentHTML("beforeend", html);
          html = "";
          group = document.createElement("span");
          group.className = "sv-lg";
          b.linesEl.appendChild(group);
        }
        html += '<span class="ln">' + htmls[k] + "</span>";
        b.count += 1;
        // A full group no longer changes size: while it is off screen the browser may skip it (scribe.css).
        if (b.count % LINES_PER_GROUP === 0) group.classList.add("sv-full");
      }
      if (html) group.insertAdjacentHTML("beforeend", html);
    },
    close(b) {
      if (!b) return;
      this.setTail(b, "");
      if (b.kind === "code") b.el.dataset.streaming = "false";
      b.closed = true;
    },
    markLive() {
      const last = this.blocks[this.blocks.length - 1];
      if (this.liveBlock && this.liveBlock !== last) this.liveBlock.el.classList.remove("sv-live");
      if (last) last.el.classList.toggle("sv-live", this.live);
      this.liveBlock = last;
    },
    codeText(b) {
      return b.code.textContent;
    },
    async copy(b, button) {
      const text = this.codeText(b);
      try {
        await navigator.clipboard.writeText(text);
      } catch (err) {
        const area = document.createElement("textarea");
        area.value = text;
        document.body.appendChild(area);
        area.select();
        document.execCommand("copy");
        area.remove();
      }
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = "Copy"), 1500);
    },
    download(b) {
      const ext = EXT[(b.language || "").toLowerCase()] || "txt";
      const name = ext === "Dockerfile" || ext === "Makefile" ? ext : "snippet." + ext;
      const url = URL.createObjectURL(new Blob([this.codeText(b)], { type: "text/plain;charset=utf-8" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    },
  },
};
