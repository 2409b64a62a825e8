/* The book's reveal.js decks (fwcompare.slides): colour mode, fitting every slide, starting reveal.js.
 *
 * Loaded in <head>, so that the colour mode is set before the first paint: the one chosen in the
 * book (localStorage "mode", as the book's theme stores it), else the system's; `?theme=dark` or
 * `?theme=light` overrides both, and the D key switches it.
 *
 * FWSlides.start() runs at the end of <body>. Before reveal.js starts, with every slide laid
 * out at the deck's size (1280 x 720), it
 *   1. sets code and tables that are too wide in a smaller size, never below minCodePx, and
 *      wraps what is still too wide (nothing scrolls sideways, nothing is cut);
 *   2. for each slide taller than the deck: tries its code and tables smaller (down to
 *      minCodePx); if that is not enough, moves the blocks that do not fit to a new slide after
 *      it with the same title and "(cont.)", splitting a block that is taller than a slide on
 *      its own (code by lines, preferring a blank line; tables by rows, the header repeated;
 *      lists by items; containers by children). Only a block that cannot be split (one image,
 *      one paragraph) is scaled down.
 * Then reveal.js starts, in the print view when the URL has ?print-pdf (one slide a page).
 */
(function () {
  "use strict";
  const api = { ready: false, pdfReady: false, continued: 0, scaled: 0 };
  window.FWSlides = api;

  // --- colour mode --------------------------------------------------------------------------
  const query = new URLSearchParams(location.search);
  function systemTheme() {
    return window.matchMedia && matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function bookMode() {
    try { return localStorage.getItem("mode") || "auto"; } catch (error) { return "auto"; }
  }
  function initialTheme() {
    const asked = query.get("theme");
    if (asked === "dark" || asked === "light") return asked;
    const mode = bookMode();
    return mode === "dark" || mode === "light" ? mode : systemTheme();
  }
  api.setTheme = function (theme) {
    document.documentElement.dataset.theme = theme;
    document.documentElement.dataset.mode = theme;
  };
  api.toggleTheme = function () {
    api.setTheme(document.documentElement.dataset.theme === "dark" ? "light" : "dark");
  };
  api.setTheme(initialTheme());

  // --- measuring ------------------------------------------------------------------------------
  let config = null;
  function fits(slide) { return slide.scrollHeight <= config.height; }
  function isLeaf(section) { return !section.querySelector("section"); }
  function bodyOf(slide) { return slide.querySelector(":scope > .fw-slide > .fw-body"); }
  function movable(body) {
    return Array.from(body.children).filter(child => !child.classList.contains("fw-keep"));
  }
  function px(element) { return parseFloat(getComputedStyle(element).fontSize); }
  function tooWide(element) { return element.scrollWidth > element.clientWidth + 1; }

  // 1. Width: code and tables smaller (not below minCodePx), then wrapped.
  function fitWidth(root) {
    root.querySelectorAll("pre").forEach(pre => {
      let size = px(pre);
      while (tooWide(pre) && size > config.minCodePx) {
        size = Math.max(config.minCodePx, size - 1);
        pre.style.fontSize = size + "px";
      }
      if (tooWide(pre)) pre.classList.add("fw-wrap");
    });
    root.querySelectorAll("table").forEach(table => {
      const room = table.parentElement.clientWidth;
      let size = px(table);
      while (table.offsetWidth > room + 1 && size > config.minCodePx) {
        size = Math.max(config.minCodePx, size - 1);
        table.style.fontSize = size + "px";
      }
      if (table.offsetWidth > room + 1) table.classList.add("fw-wrap");
    });
  }

  // 2a. Long code and tables: the largest size, down to minCodePx, that lets the slide fit.
  function shrinkToFit(slide) {
    const blocks = Array.from(slide.querySelectorAll("pre, table"));
    if (!blocks.length) return false;
    const before = blocks.map(block => block.style.fontSize);
    const start = Math.max(...blocks.map(px));
    for (let size = Math.floor(start) - 1; size >= config.minCodePx; size -= 1) {
      blocks.forEach(block => { if (px(block) > size) block.style.fontSize = size + "px"; });
      if (fits(slide) && !blocks.some(block => block.tagName === "PRE" && tooWide(block) &&
                                        !block.classList.contains("fw-wrap"))) return true;
    }
    blocks.forEach((block, index) => { block.style.fontSize = before[index]; });
    return false;
  }

  // 2b. Splitting one block: the block keeps the part that fits, the returned tail the rest.
  function preLines(pre) {
    const lines = [[]];
    (function walk(node, wrap) {
      Array.from(node.childNodes).forEach(child => {
        if (child.nodeType === Node.TEXT_NODE) {
          child.data.split("\n").forEach((part, index) => {
            if (index > 0) lines.push([]);
            if (part) lines[lines.length - 1].push(wrap(document.createTextNode(part)));
          });
        } else if (child.nodeType === Node.ELEMENT_NODE) {
          walk(child, inner => { const shell = child.cloneNode(false); shell.appendChild(inner); return wrap(shell); });
        }
      });
    })(pre, node => node);
    while (lines.length && !lines[lines.length - 1].length) lines.pop();
    return lines;
  }
  function fillPre(pre, lines) {
    pre.replaceChildren();
    lines.forEach((line, index) => {
      if (index) pre.append("\n");
      line.forEach(node => pre.append(node.cloneNode(true)));
    });
  }
  function blank(line) { return line.every(node => !node.textContent.trim()); }
  // The largest count in [1, n] for which `apply(count)` leaves the slide fitting; 0 if none.
  function largest(n, apply, slide) {
    let low = 0, high = n;
    while (low < high) {
      const middle = Math.ceil((low + high) / 2);
      apply(middle);
      if (fits(slide)) low = middle; else high = middle - 1;
    }
    return low;
  }
  function splitPre(pre, slide) {
    const lines = preLines(pre);
    if (lines.length < 2) return null;
    let count = largest(lines.length - 1, k => fillPre(pre, lines.slice(0, k)), slide);
    if (!count) { fillPre(pre, lines); return null; }
    let rest = count;
    for (let index = count; index >= Math.ceil(count * 0.6); index -= 1) {  // end at a blank line
      if (index < lines.length && blank(lines[index])) { count = index; rest = index + 1; break; }
    }
    fillPre(pre, lines.slice(0, count));
    const tail = pre.cloneNode(false);
    fillPre(tail, lines.slice(rest));
    return tail;
  }
  function splitRows(table, slide) {
    const body = table.tBodies[0];
    if (!body || body.rows.length < 2) return null;
    const rows = Array.from(body.rows);
    const count = largest(rows.length - 1, k => body.replaceChildren(...rows.slice(0, k)), slide);
    if (!count) { body.replaceChildren(...rows); return null; }
    body.replaceChildren(...rows.slice(0, count));
    const tail = table.cloneNode(false);
    Array.from(table.children).forEach(part => {
      if (part.tagName === "CAPTION" || part.tagName === "COLGROUP" || part.tagName === "THEAD") {
        tail.append(part.cloneNode(true));
      }
    });
    const tailBody = body.cloneNode(false);
    tailBody.append(...rows.slice(count));
    tail.append(tailBody);
    return tail;
  }
  function splitItems(list, slide) {
    const items = Array.from(list.children);
    if (items.length < 2) return null;
    const count = largest(items.length - 1, k => list.replaceChildren(...items.slice(0, k)), slide);
    if (!count) { list.replaceChildren(...items); return null; }
    list.replaceChildren(...items.slice(0, count));
    const tail = list.cloneNode(false);
    tail.removeAttribute("id");
    if (list.tagName === "OL") tail.start = (list.start || 1) + count;
    tail.append(...items.slice(count));
    return tail;
  }
  function splitBlock(block, slide) {
    if (block.tagName === "PRE") return splitPre(block, slide);
    if (block.tagName === "TABLE") return splitRows(block, slide);
    if (block.tagName === "UL" || block.tagName === "OL") return splitItems(block, slide);
    if (!["DIV", "BLOCKQUOTE", "ASIDE", "SECTION", "DL"].includes(block.tagName)) return null;
    const children = Array.from(block.children);
    if (!children.length) return null;
    const tail = block.cloneNode(false);
    tail.removeAttribute("id");
    let anchor = null;
    while (!fits(slide) && block.children.length > 1) {
      const last = block.lastElementChild;
      tail.insertBefore(last, anchor);
      anchor = last;
    }
    if (!fits(slide)) {
      const rest = splitBlock(block.firstElementChild, slide);
      if (rest) tail.insertBefore(rest, anchor);
    }
    if (!tail.children.length) return null;
    tail.classList.add("fw-continued");
    return tail;
  }
  // An unsplittable block taller than a slide (one image, one paragraph): scaled down.
  function scaleToFit(block, slide) {
    for (let zoom = 0.95; zoom > 0.2 && !fits(slide); zoom -= 0.05) block.style.zoom = zoom.toFixed(2);
    block.classList.add("fw-scaled");
    api.scaled += 1;
  }

  function continuation(slide) {
    const next = slide.cloneNode(false);
    next.removeAttribute("id");
    next.removeAttribute("data-fw-prose");
    next.classList.remove("center", "fw-title", "fw-divider");
    next.classList.add("fw-cont");
    const frame = document.createElement("div");
    frame.className = "fw-slide";
    next.append(frame);
    const heading = slide.querySelector(":scope > .fw-slide > :is(h1, h2, h3)");
    if (heading) {
      const title = heading.cloneNode(true);
      title.removeAttribute("id");
      const mark = document.createElement("span");
      mark.className = "fw-cont-mark";
      mark.textContent = " (cont.)";
      title.append(mark);
      frame.append(title);
    }
    const body = document.createElement("div");
    body.className = "fw-body";
    bodyOf(slide).querySelectorAll(":scope > .fw-repeat").forEach(keep => body.append(keep.cloneNode(true)));
    frame.append(body);
    return next;
  }

  function paginate(slide) {
    let current = slide;
    for (let guard = 0; guard < 100 && !fits(current); guard += 1) {
      const body = bodyOf(current);
      if (!body || shrinkToFit(current)) break;
      const next = continuation(current);
      current.after(next);  // laid out (and measured) from now on
      const nextBody = bodyOf(next);
      let anchor = null;
      while (!fits(current) && movable(body).length > 1) {
        const last = movable(body).pop();
        nextBody.insertBefore(last, anchor);
        anchor = last;
      }
      if (!fits(current)) {
        const only = movable(body)[0];
        const tail = only ? splitBlock(only, current) : null;
        if (tail) nextBody.insertBefore(tail, anchor);
        else if (only) scaleToFit(only, current);
      }
      if (!movable(nextBody).length) { next.remove(); break; }
      api.continued += 1;
      current = next;
    }
  }

  function fitAll(reveal) {
    reveal.classList.add("fw-measuring");
    fitWidth(reveal);
    Array.from(reveal.querySelectorAll(".slides section")).filter(isLeaf).forEach(paginate);
    reveal.classList.remove("fw-measuring");
  }

  function loaded(image) {
    return image.complete ? Promise.resolve() : new Promise(done => {
      image.addEventListener("load", done); image.addEventListener("error", done);
    });
  }

  api.start = async function (options) {
    config = Object.assign({ width: 1280, height: 720, minCodePx: 16 }, options);
    const reveal = document.querySelector(".reveal");
    const printing = /print-pdf/i.test(location.search);
    reveal.addEventListener("pdf-ready", () => { api.pdfReady = true; });
    reveal.classList.add("fw-measuring");  // lays the slides out, so that their fonts load
    await Promise.all(Array.from(document.images).map(loaded));
    await document.fonts.ready;
    fitAll(reveal);
    await Reveal.initialize({
      width: config.width, height: config.height, margin: printing ? 0 : 0.04,
      minScale: 0.2, maxScale: 2.0, center: false, hash: true, slideNumber: "c/t",
      navigationMode: "linear", transition: "fade", transitionSpeed: "fast",
      plugins: window.RevealNotes ? [window.RevealNotes] : [],
    });
    Reveal.addKeyBinding({ keyCode: 68, key: "D", description: "Switch light / dark" }, api.toggleTheme);
    api.ready = true;
  };
})();
