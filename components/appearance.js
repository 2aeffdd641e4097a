// The user's look on this page: body classes (cursor, line numbers, wrap), CSS variables (code font size) and
// the highlight style sheet. Only touches body classes with the "sc-" prefix and its own <style> element.
export default {
  template: "<span style='display: none'></span>",
  props: { look: Object },
  mounted() {
    this.apply(this.look);
  },
  methods: {
    apply(look) {
      if (!look) return;
      let sheet = document.getElementById("scribe-appearance");
      if (!sheet) {
        sheet = document.createElement("style");
        sheet.id = "scribe-appearance";
        document.head.appendChild(sheet);
      }
      if (sheet.textContent !== look.css) sheet.textContent = look.css;
      const body = document.body;
      const wanted = new Set(look.classes);
      for (const c of Array.from(body.classList)) if (c.startsWith("sc-") && !wanted.has(c)) body.classList.remove(c);
      for (const c of wanted) body.classList.add(c);
      for (const [name, value] of Object.entries(look.vars || {})) body.style.setProperty(name, value);
    },
  },
};
