-- HTML (SPEC, HTML): res:html() and http.html parse HTML5 as browsers do
-- (libgumbo), in the page's charset; doc:select / select_one take CSS
-- Selectors Level 3; elements give their tag, attributes, parent,
-- children, text, inner and outer HTML and URLs resolved against the page.
--
-- The pages are a corpus of real-shaped documents (a book catalogue, a
-- login form, tables, malformed markup, entities, pages in latin-1,
-- windows-1251 and Shift_JIS, a page nested 100,000 deep) served by the
-- fault server (spec/servers/fault_routes_html.py from spec/fixtures/html).
local helper = require "spec.helper"
local support = require "spec.support"
local http = require "http"

local must = support.must
local BASE = helper.fault .. "/html/"

local function page(name, ct)
  return must(http.get(BASE .. name, ct and { params = { ct = ct } } or nil)):html()
end

-- the results of an iterator, mapped by f (default: the element's text)
local function all(iter, f)
  local out = {}
  for e in iter do out[#out + 1] = (f or function(x) return x:text() end)(e) end
  return out
end

describe("res:html() over a catalogue page", function()
  local doc, res
  setup(function()
    res = must(http.get(BASE .. "catalogue.html"))
    doc = res:html()
  end)

  it("finds the title and every product in document order", function()
    assert.equal("All products | Books to Scrape - Sandbox", doc:select_one("title"):text())
    assert.same({ "A Light in the Attic", "Tipping the Velvet", "Soumission" },
      all(doc:select("article.product_pod h3 a"), function(a) return a.attrs.title end))
    assert.same({ "£51.77", "£53.74", "£50.10" }, all(doc:select(".product_price > .price_color")))
  end)

  it("resolves URLs against the response URL", function()
    local a = doc:select_one("article.product_pod h3 a")
    assert.equal("a-light-in-the-attic_1000/index.html", a:attr("href"))
    assert.equal(helper.fault .. "/html/a-light-in-the-attic_1000/index.html", a:url("href"))
    assert.equal(helper.fault .. "/html/page-2.html", doc:select_one("li.next > a"):url("href"))
    assert.equal(helper.fault .. "/static/css/styles.css", doc:select_one("link"):url("href"))
    assert.is_nil(a:url("nope"))
  end)

  it("collapses whitespace in text() and keeps script text as text", function()
    assert.same({ "In stock", "In stock", "Out of stock" }, all(doc:select("p.availability")))
    local script = doc:select_one("script:not([src])")
    assert.matches('document.write("<p>not a tag</p>")', script:text(), 1, true)
    assert.is_nil(doc:select_one("script + p, body > p"))
  end)

  it("gives tag, attrs, parent and children", function()
    local ol = doc:select_one("section > ol.row")
    assert.equal("ol", ol.tag)
    assert.equal("row", ol.attrs.class)
    local items = ol:children()
    assert.equal(3, #items)
    assert.equal("li", items[1].tag)
    assert.equal(ol, items[2].parent)         -- one node, one Lua value
    assert.equal("section", ol.parent.tag)
    assert.equal("#document", doc.tag)
    assert.equal(doc, doc:select_one("html").parent)
    assert.is_nil(doc.parent)
  end)

  it("selects within an element only among its descendants", function()
    local second = doc:select("article")
    second()
    local art = second()
    assert.same({ "Tipping the Velvet" }, all(art:select("h3 a")))
    assert.is_nil(art:select_one("article"))
  end)
end)

describe("CSS selectors", function()
  local doc
  setup(function() doc = page("login.html") end)

  -- the counts lxml.html + cssselect gives for the same page
  local cases = {
    { "form", 3 }, { "*", 45 }, { "#login", 1 }, { ".login", 1 }, { "form.login#login", 1 },
    { "[type]", 14 }, { "[type=checkbox]", 4 }, { "[type='checkbox'][checked]", 3 },
    { "[class~=login]", 1 }, { "html[lang|=en]", 0 }, { "[name^=in-]", 1 }, { "[src$='.png']", 1 },
    { "[action*=new]", 1 }, { "form input", 19 }, { "form > input", 16 }, { "label > input", 2 },
    { "input[type=checkbox] + input", 4 }, { "select ~ textarea", 1 }, { "option:first-child", 4 },
    { "option:last-child", 4 }, { "select > :only-child", 1 }, { "option:nth-child(2)", 3 },
    { "option:nth-child(2n+1)", 5 }, { "option:nth-last-child(1)", 4 }, { "input:nth-of-type(1)", 6 },
    { "input:nth-last-of-type(1)", 6 }, { "form:first-of-type", 1 }, { "form:last-of-type", 1 },
    { "textarea:only-of-type", 1 }, { "html:root", 1 }, { "fieldset:empty", 0 }, { "title:empty", 0 },
    { ":checked", 7 }, { "input:disabled", 2 }, { "select:enabled", 4 }, { "input:not([type])", 5 },
    { "form, title", 4 }, { "INPUT[TYPE=image]", 1 }, { "#login .nope", 0 },
  }
  for _, c in ipairs(cases) do
    it(("counts %q"):format(c[1]), function()
      local n = 0
      for _ in doc:select(c[1]) do n = n + 1 end
      assert.equal(c[2], n)
    end)
  end

  it("returns matches in document order, once each, across a selector group", function()
    assert.same({ "search", "login", "noaction" },
      all(doc:select("#noaction, form[method], #login"), function(f) return f.attrs.id end))
  end)

  it("raises an error saying where a bad selector fails", function()
    local bad = {
      { "div >", 'bad selector "div >": expected a selector after the combinator at position 6' },
      { "a[href", "expected an attribute operator or ']' at position 7" },
      { "p::before", "pseudo-elements are not supported at position 3" },
      { "li:nth-child(2n+)", "expected a number after the sign at position 17" },
      { "", "empty selector at position 1" },
      { "a:hover", "unknown pseudo-class at position 3" },
    }
    for _, b in ipairs(bad) do
      local ok, err = pcall(doc.select, doc, b[1])
      assert.is_false(ok)
      assert.matches(b[2], err, 1, true)
      assert.matches("html_spec.lua", err, 1, true) -- at the caller's line
      ok, err = pcall(doc.select_one, doc, b[1])
      assert.matches(b[2], err, 1, true)
    end
  end)

  it("reuses a compiled selector and still works after many distinct ones", function()
    for i = 1, 600 do assert.is_nil(doc:select_one("#x" .. i)) end
    assert.equal("login", doc:select_one("#login").attrs.id)
  end)
end)

describe("elements", function()
  it("serializes inner and outer HTML per the HTML serialization algorithm", function()
    local doc = page("entities.html")
    assert.equal('<a id="attr" href="/q?a=1&amp;b=2&amp;c=3" title="&quot;quoted&quot; &lt;tag&gt;">link</a>',
      doc:select_one("#attr"):outer_html())
    assert.equal("café © 2024 — … &nbsp;x", doc:select_one("#named"):inner_html())
    assert.equal('var s = "&amp; <b>";', doc:select_one("script"):inner_html())
    local d2 = http.html('<p>a<br>b<img src="x"><svg viewBox="0 0 1 1"><foreignObject/></svg></p><!-- c -->')
    assert.equal('<p>a<br>b<img src="x"><svg viewBox="0 0 1 1"><foreignObject></foreignObject></svg></p>',
      d2:select_one("p"):outer_html())
    assert.equal("<html><head></head><body><p>a<br>b<img src=\"x\"><svg viewBox=\"0 0 1 1\">"
      .. "<foreignObject></foreignObject></svg></p><!-- c --></body></html>", d2:outer_html())
    assert.equal("<!DOCTYPE html>", doc:outer_html():sub(1, 15))
  end)

  it("decodes entities in text and attributes", function()
    local doc = page("entities.html")
    assert.equal("<Entities> & more", doc:select_one("title"):text())
    assert.equal("café © 2024 — … \194\160x", doc:select_one("#named"):text())
    assert.equal("é☺😀", doc:select_one("#numeric"):text())
    -- legacy entities without ';' are decoded in text, as browsers do
    assert.equal("AT&T ¬anentity; &x", doc:select_one("#bare"):text())
    assert.equal('"quoted" <tag>', doc:select_one("#attr").attrs.title)
    assert.equal("/q?a=1&b=2&c=3", doc:select_one("#attr"):attr("HREF"))
    local svg = http.html('<svg><a xlink:href="/x" href="/y"><use xlink:href="#i"/></a></svg>', "http://h/d/")
    assert.equal("#i", svg:select_one("use"):attr("xlink:href"))
    assert.equal("#i", svg:select_one("use").attrs["xlink:href"])
    assert.is_nil(svg:select_one("use"):attr("href"))
    assert.equal("http://h/x", svg:select_one("a"):url("xlink:href"))
    assert.equal("http://h/y", svg:select_one("a"):url("href"))
  end)

  it("honours <base href> when resolving URLs", function()
    local doc = page("login.html")
    assert.equal(helper.fault .. "/app/session/new?next=%2Faccount", doc:select_one("#login"):url("action"))
    assert.equal(helper.fault .. "/search", doc:select_one("#search"):url("action"))
    local d = http.html('<a href="../x?y#z">', "http://h.example/a/b/c")
    assert.equal("http://h.example/a/x?y#z", d:select_one("a"):url("href"))
    assert.equal("../x?y#z", http.html('<a href="../x?y#z">'):select_one("a"):url("href"))
  end)

  it("keeps the document alive while an element is reachable, and no longer", function()
    local el = http.html("<div><p id=x>kept</p></div>"):select_one("#x")
    collectgarbage(); collectgarbage()
    assert.equal("kept", el:text())
    assert.equal("div", el.parent.tag)
    assert.equal("#document", el.parent.parent.parent.parent.tag)
    local weak = setmetatable({}, { __mode = "v" })
    weak[1] = el.parent.parent.parent.parent
    el = nil
    collectgarbage(); collectgarbage()
    assert.is_nil(weak[1])
  end)

  it("lets an iterator outlive its document variable", function()
    local it = http.html(("<i>x</i>"):rep(50)):select("i")
    collectgarbage(); collectgarbage()
    local n = 0
    for e in it do n = n + 1; assert.equal("x", e:text()) end
    assert.equal(50, n)
  end)

  it("refuses a non-element and a non-string", function()
    local doc = http.html("<p>")
    assert.has_error(function() doc.select({}, "p") end)
    assert.has_error(function() doc:select(42 and {}) end)
    assert.has_error(function() http.html(nil) end, "bad argument #1 to 'html' (string expected, got nil)")
    assert.has_error(function() http.html("", 1) end, "bad argument #2 to 'html' (string expected, got number)")
  end)
end)

describe("browser parsing", function()
  it("repairs malformed markup as the HTML5 algorithm does", function()
    local doc = page("malformed.html")
    assert.equal("Broken <b>page", doc:select_one("title"):text())
    assert.equal("both", doc:select_one("b > i"):text())
    assert.equal("italic", doc:select_one("p > i"):text())
    assert.equal(2, #doc:select_one("ul"):children())
    assert.equal("fostered", doc:select_one("body > span"):text()) -- foster-parented before the table
    assert.equal("table", doc:select_one("body > span + table").tag)
    assert.same({ "/one", "/two" }, all(doc:select("a"), function(a) return a.attrs.href end))
    assert.equal("block in p", doc:select_one("p + div"):text())
    assert.equal("open", doc:select_one("div.unclosed > span"):text())
  end)

  it("reads tables with implied tbody and unclosed cells", function()
    local doc = page("tables.html")
    local rows = {}
    for tr in doc:select("#prices > tbody > tr") do
      rows[#rows + 1] = all(tr:select("td"))
    end
    assert.same({ { "Apple", "1.20" }, { "Pear", "0.80" }, { "Total", "2.00" } }, rows)
    assert.same({ "Item", "Price" }, all(doc:select("#prices thead th")))
    assert.equal("inner", doc:select_one("#nested td td"):text())
    assert.equal("outer", doc:select_one("#nested > tbody > tr > td:last-child"):text())
  end)

  it("survives a page nested 100,000 deep, flattening past 512 levels", function()
    local res = must(http.get(BASE .. "deep", { params = { n = 100000 } }))
    local t0 = http.now()
    local doc = res:html()
    local n = 0
    for _ in doc:select("div") do n = n + 1 end
    assert.equal(512, n)
    assert.equal("bottom", doc:select_one("div"):text())
    assert.equal("after", doc:select_one("body > p#after"):text())
    assert.matches("^<div><div>", doc:select_one("div"):outer_html())
    assert.is_true(http.now() - t0 < 5)
    for _, tag in ipairs({ "b", "span", "table" }) do
      doc = must(http.get(BASE .. "deep", { params = { n = 50000, tag = tag } })):html()
      assert.equal("after", doc:select_one("#after"):text())
    end
  end)
end)

describe("pages built to be slow", function()
  -- each is a few hundred KB; the parser's tree builder would take
  -- quadratic time on the deep ones without the cap
  local cases = {
    { "unclosed <a>s are siblings", ("<a href=x>y"):rep(20000), "a", 20000 },
    { "unclosed <button>s are siblings", ("<button>y"):rep(20000), "button", 20000 },
    { "headings close each other", ("<h1>a<h2>b"):rep(10000), "h2", 10000 },
    { "nested <b>s are capped", ("<b>"):rep(100000), "b", 512 },
    { "tables in cells are capped", ("<table><tr><td>"):rep(30000), "table", 512 },
    { "SVG groups are capped", "<svg>" .. ("<g>"):rep(100000), "g", 511 },
    { "misnested formatting is repaired", ("<b><p>x</b>"):rep(30000), "p", 30000 },
    { "text after <plaintext> stays text", "<plaintext>" .. ("<div>"):rep(100000), "div", 0 },
    { "positions in a list of 50,000 are not counted again each time",
      "<ul>" .. ("<li><p>a</p><p>b</p></li>"):rep(50000) .. "</ul>",
      "li:nth-last-child(2), p:nth-last-of-type(2), li:nth-child(50000), li:nth-of-type(49999)", 50002 },
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      local t0 = http.now()
      local doc = http.html(c[2])
      local n = 0
      for _ in doc:select(c[3]) do n = n + 1 end
      assert.equal(c[4], n)
      assert.is_true(#doc:outer_html() > 0)
      assert.is_true(http.now() - t0 < 10)
    end)
  end
end)

describe("charsets", function()
  it("honours a <meta http-equiv> charset (latin-1 read as windows-1252)", function()
    local doc = page("latin1.html")
    assert.equal("Café", doc:select_one("title"):text())
    assert.equal("naïve €uro", doc:select_one("#p"):text())
  end)

  it("takes the Content-Type charset over the page's", function()
    local doc = page("cp1251.html", "text/html; charset=windows-1251")
    assert.equal("Привет", doc:select_one("title"):text())
    assert.equal("Москва", doc:select_one("#p"):text())
  end)

  it("honours <meta charset> for a multibyte charset", function()
    local doc = page("sjis.html")
    assert.equal("日本", doc:select_one("title"):text())
    assert.equal("こんにちは", doc:select_one("#p"):text())
  end)

  it("reads UTF-8 without any declaration, replacing ill-formed bytes", function()
    local doc = http.html("<p>ok \255 é</p>")
    assert.equal("ok \239\191\189 é", doc:select_one("p"):text())
  end)
end)

describe("forms", function()
  it("extracts action, method and the fields the form would submit", function()
    local doc = page("login.html")
    local f = doc:form("form#login")
    assert.equal(helper.fault .. "/app/session/new?next=%2Faccount", f.action)
    assert.equal("POST", f.method)
    assert.same({
      csrf_token = "tok&en-123", user = "alice", password = "", ["nameless-none"] = "kept",
      remember = "on", tags = { "a", "b" }, plan = "pro", lang = "fr", country = "Norway",
      colours = { "red", "b" }, bio = "  Line one & two\r\nline <three>",
    }, f.fields)
    assert.equal("GET", doc:form().method)                 -- the first form
    assert.equal(helper.fault .. "/search", doc:form().action)
    assert.equal(BASE .. "login.html", doc:form("#noaction").action) -- no action: the page
    assert.is_nil(doc:form("#nope"))
    assert.has_error(function() doc:form("input") end,
      'bad argument #1 to \'form\' ("input" matches a <input>, not a <form>)')
    local form_el = doc:select_one("#search")
    assert.same({ q = "x" }, form_el:form().fields)
  end)

  it("submits a POST form with extra fields, as the server receives it", function()
    local doc = http.html([[<form method=post action="/html/echo-form?x=1">
      <input name=a value="1 2"><input name=t type=checkbox value=p checked>
      <input name=t type=checkbox value=q checked><input name=drop value=d></form>]],
      helper.fault .. "/html/page")
    local res = must(doc:form():submit(http, { b = "é&", drop = false }))
    local method, target, body = res.body:match("^(%u+)\n([^\n]*)\n(.*)$")
    assert.equal("POST", method)
    assert.equal("/html/echo-form?x=1", target)
    local got = {}
    for kv in body:gmatch("[^&]+") do got[#got + 1] = kv end
    table.sort(got)
    assert.same({ "a=1+2", "b=%C3%A9%26", "t=p", "t=q" }, got)
  end)

  it("submits a GET form in the query, through a session", function()
    local s <close> = http.session { headers = { ["X-Form"] = "yes" } }
    local doc = http.html([[<form action="/html/echo-form?old=1#frag"><input name=q value="a b">
      <select name=n><option>one<option selected>two</select></form>]], helper.fault .. "/")
    local res = must(doc:form():submit(s, { page = 2 }))
    local method, target = res.body:match("^(%u+)\n([^\n]*)\n")
    assert.equal("GET", method)
    local q = {}
    for kv in target:match("%?(.*)$"):gmatch("[^&]+") do q[#q + 1] = kv end
    table.sort(q)
    assert.same({ "n=two", "page=2", "q=a+b" }, q)
    assert.has_error(function() doc:form().submit({}, s) end)
    assert.has_error(function() doc:form():submit(s, "x") end,
      "bad argument #2 to 'submit' (table expected, got string)")
  end)

  -- HTML's form owner: a control with form="id" belongs to the form with
  -- that id wherever it stands, even inside another form; one naming no
  -- form (or an element that is not a form) belongs to none.
  local OWNERS = [[
    <input name=before form=f value=0>
    <div id=h>not a form</div>
    <form id=f method=post action="/post">
      <input name=a value=1>
      <input name=moved form=g value=x>
      <input name=lost form=nope value=y>
      <input name=lost2 form=h value=z>
      <input name=own value=o>
    </form>
    <form id=g><input name=g1 value=1></form>
    <input name=a form=f value=2>
    <textarea name=t form=f>hi</textarea>
    <select name=s form=f><option>o1<option selected>o2</select>
    <input name=off form=f disabled value=d>
    <input name=c type=checkbox form=f value=yes checked>
    <input name=loose value=l>
    <form id=h><input name=h1 value=1></form>]]

  it("reads the controls that name the form with form=, and not those naming another", function()
    local doc = http.html(OWNERS, helper.httpbin .. "/page")
    assert.same({ before = "0", a = { "1", "2" }, own = "o", t = "hi", s = "o2", c = "yes" },
      doc:form("#f").fields)
    assert.same({ moved = "x", g1 = "1" }, doc:form("#g").fields)
    -- the first element with id h is a <div>: lost2 belongs to no form,
    -- and the <form id=h> keeps only its own control
    assert.same({ h1 = "1" }, doc:form("form#h").fields)
    -- two forms with one id: form= names the first; the second keeps its own
    local twins = http.html([[<form id=t class=one><input name=a value=1></form>
      <form id=t class=two><input name=b value=2><input name=c form=t value=3></form>]])
    assert.same({ a = "1", c = "3" }, twins:form(".one").fields)
    assert.same({ b = "2" }, twins:form(".two").fields)
    -- without any form= in the page, a form's own controls only
    assert.same({ q = "1" }, http.html("<form><input name=q value=1></form><input name=x>")
      :form().fields)
  end)

  it("submits the fields of the form owner rule, as httpbin receives them", function()
    local doc = http.html(OWNERS, helper.httpbin .. "/page")
    local res = must(doc:form("#f"):submit(http, { extra = "e" }))
    local got = res:json()
    assert.equal("application/x-www-form-urlencoded", got.headers["Content-Type"])
    assert.same({ before = "0", a = { "1", "2" }, own = "o", t = "hi", s = "o2", c = "yes",
      extra = "e" }, got.form)
    -- and on the wire in document order (a repeated name at its first place),
    -- then the names the page did not have, sorted
    local echo = http.html(OWNERS, helper.fault .. "/html/x"):form("#f")
    echo.action = helper.fault .. "/html/echo-form"
    echo.fields.z = "set"
    local body = must(echo:submit(nil, { own = "changed", y = 1, t = false }))
      .body:match("^POST\n[^\n]*\n(.*)$")
    assert.equal("before=0&a=1&a=2&own=changed&s=o2&c=yes&y=1&z=set", body)
  end)

  describe("a multipart/form-data form", function()
    local MULTI = [[<form method=post enctype="Multipart/Form-Data" action="%s">
      <input name=user value=alice><input type=checkbox name=tags value=x checked>
      <input type=checkbox name=tags value=y checked><input type=file name=doc>
      <input type=submit name=go value=Go></form>]]

    it("is sent multipart, text fields as plain parts, a file input from extra as a file", function()
      local path = os.tmpname()
      local fh = assert(io.open(path, "wb"))
      fh:write("file body\n")
      fh:close()
      local doc = http.html(MULTI:format("/post"), helper.httpbin .. "/")
      local form = doc:form()
      assert.equal("multipart/form-data", form.enctype)
      local res = must(form:submit(http, { doc = http.file(path, { filename = "a.txt" }) }))
      os.remove(path)
      local got = res:json()
      assert.matches("^multipart/form%-data; boundary=", got.headers["Content-Type"])
      assert.same({ user = "alice", tags = { "x", "y" } }, got.form)
      assert.same({ doc = "file body\n" }, got.files)
      -- without a file, still multipart: the fields only
      got = must(form:submit(http, { more = "m" })):json()
      assert.matches("^multipart/form%-data; boundary=", got.headers["Content-Type"])
      assert.same({ user = "alice", tags = { "x", "y" }, more = "m" }, got.form)
      assert.same({}, got.files)
    end)

    it("sends each field as a browser does: a name, no filename, no type", function()
      local doc = http.html(MULTI:format("/html/echo-form"), helper.fault .. "/")
      local res = must(doc:form():submit(http, { note = { content = "in memory",
        filename = "n.txt", content_type = "text/plain" } }, { files = { extra = { content = "e" } } }))
      local body = res.body:match("^POST\n[^\n]*\n(.*)$")
      local boundary = body:match("^%-%-([^\r]+)\r\n")
      local parts = {}
      for p in body:sub(#boundary + 5):gmatch("(.-)\r\n%-%-" .. boundary:gsub("%p", "%%%0")) do
        parts[#parts + 1] = p:gsub("^\r\n", "")
      end
      assert.same({
        'Content-Disposition: form-data; name="tags"\r\n\r\nx',
        'Content-Disposition: form-data; name="tags"\r\n\r\ny',
        'Content-Disposition: form-data; name="user"\r\n\r\nalice',
        'Content-Disposition: form-data; name="extra"; filename="extra"\r\n'
          .. "Content-Type: application/octet-stream\r\n\r\ne",
        'Content-Disposition: form-data; name="note"; filename="n.txt"\r\n'
          .. "Content-Type: text/plain\r\n\r\nin memory",
      }, parts)
      assert.has_error(function() doc:form():submit(http, {}, { files = "x" }) end,
        "bad argument #3 to 'submit' (field 'files': table expected, got string)")
    end)
  end)

  it("logs in through the app's CSRF-protected form", function()
    local s <close> = http.session { base_url = helper.app }
    local login = must(s:get("/login")):html():form()
    assert.is_string(login.fields.csrf_token)
    local res = must(login:submit(s, { user = "alice", password = "wonderland" }))
    assert.equal(200, res.status)
    assert.equal(302, res.history[1].status)
    assert.matches("/account$", res.url)
    -- without the token the app refuses it
    res = must(login:submit(s, { user = "alice", password = "wonderland", csrf_token = false }))
    assert.equal(403, res.status)
  end)
end)

describe("http.assert's HTML assertions", function()
  require "http.assert"
  local res
  setup(function() res = must(http.get(BASE .. "catalogue.html")) end)

  local function failure(f, ...)
    local ok, err = pcall(f, res, ...)
    assert.is_false(ok)
    return tostring(err)
  end

  it("pass on what the page holds, and return the response", function()
    assert.equal(res, assert.selector_count(res, "article.product_pod", 3))
    assert.selector_count(res, "article.product_pod h3 > span", 0)
    assert.is_not.selector_count(res, "li.next", 2)
    assert.selector_text(res, "h1", "All products")
    assert.selector_text(res, "p.outofstock", "Out of stock")
    assert.selector_text_pattern(res, ".price_color", "^£%d+%.%d%d$")
    assert.is_not.selector_text_pattern(res, "h1", "^Some")
  end)

  it("show up to three matches of the longest prefix that matches", function()
    local msg = failure(assert.selector_count, "article.product_pod h3 > span.title", 3)
    assert.matches('Expected selector "article.product_pod h3 > span.title" to match 3 times, it matched 0',
      msg, 1, true)
    assert.matches('longest prefix that matches: "article.product_pod h3" (3 matches):\n'
      .. '    <h3><a href="a-light-in-the-attic_1000/index.html" title="A Light in the Attic">', msg, 1, true)
    assert.matches("request:  GET " .. BASE .. "catalogue.html", msg, 1, true)
    msg = failure(assert.selector_count, "ol.row > li article", 2)
    local shown = 0
    for line in msg:gmatch("\n    (<article[^\n]*)") do
      shown = shown + 1
      assert.is_true(#line <= 204, line) -- cut to about 200 bytes
      assert.matches(" %.%.%.$", line)
    end
    assert.equal(3, shown)
    assert.matches('matches of "ol.row > li article" (3):', msg, 1, true)
    msg = failure(assert.selector_count, "table td", 1)
    assert.matches("no prefix of the selector matches", msg, 1, true)
    msg = failure(assert.selector_count, "p", 1)
    assert.matches('matches of "p" (9):', msg, 1, true)
    assert.matches('\n    (and 6 more)\n', msg, 1, true)
  end)

  it("say what text they found", function()
    local msg = failure(assert.selector_text, "article .price_color", "£1")
    assert.matches('Expected the text of "article .price_color" to be "£1", got "£51.77"', msg, 1, true)
    assert.matches('    <p class="price_color">£53.74</p>', msg, 1, true)
    msg = failure(assert.selector_text_pattern, "h2.missing", "x")
    assert.matches('to match pattern "x", nothing matches', msg, 1, true)
  end)

  it("refuse a bad selector or expectation as argument errors", function()
    assert.matches([[bad argument #2 to 'selector_count' (bad selector "a[": expected a name at position 3)]],
      failure(assert.selector_count, "a[", 1), 1, true)
    assert.matches("bad argument #3 to 'selector_count' (count expected, got \"3\")",
      failure(assert.selector_count, "a", "3"), 1, true)
    assert.matches("bad argument #3 to 'selector_text' (string expected, got nil)",
      failure(assert.selector_text, "a"), 1, true)
    assert.matches("Expected an HTTP response, got nil", tostring(select(2, pcall(assert.selector_count, nil, "a", 1))), 1, true)
  end)
end)
