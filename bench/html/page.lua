-- bench/html/page.lua OUT [KIB]: writes the benchmark's page (KIB KiB,
-- 2048 by default: a book catalogue like the pages scrapers read) to OUT.
-- Deterministic, so every peer parses the same bytes.
local out = assert(io.open(assert(arg[1], "usage: page.lua OUT [KIB]"), "wb"))
local want = (tonumber(arg[2]) or 2048) * 1024
local ratings = { "One", "Two", "Three", "Four", "Five" }
out:write([[<!DOCTYPE html>
<html lang="en-us"><head><meta charset="utf-8"><title>All products | Books to Scrape</title>
<link rel="stylesheet" href="../static/css/styles.css"></head>
<body id="default" class="default"><div class="page_inner">
<aside class="sidebar"><ul class="nav nav-list"><li><a href="category/books_1/index.html">Books</a><ul>
]])
for i = 1, 50 do
  out:write(('<li><a href="category/books/cat_%d/index.html">Category %d</a></li>\n'):format(i, i))
end
out:write('</ul></li></ul></aside>\n<section><ol class="row">\n')
local size, i = 0, 0
while size < want do
  i = i + 1
  local item = ([[<li class="col-xs-6 col-sm-4 col-md-3 col-lg-3">
  <article class="product_pod">
    <div class="image_container"><a href="book-%d_%d/index.html"><img src="../media/cache/%02x/%02x/%d.jpg" alt="Book number %d" class="thumbnail"></a></div>
    <p class="star-rating %s"><i class="icon-star"></i><i class="icon-star"></i></p>
    <h3><a href="book-%d_%d/index.html" title="Book number %d &amp; friends">Book number %d &amp; ...</a></h3>
    <div class="product_price">
      <p class="price_color">&pound;%d.%02d</p>
      <p class="%s availability"><i class="icon-ok"></i> %s</p>
      <form><button type="submit" class="btn btn-primary btn-block" data-loading-text="Adding...">Add to basket</button></form>
    </div>
  </article>
</li>
]]):format(i, i, i % 256, (i * 7) % 256, i, i, ratings[i % 5 + 1], i, i, i, i, 10 + i % 90, i % 100,
    i % 7 == 0 and "outofstock" or "instock", i % 7 == 0 and "Out of stock" or "In stock")
  out:write(item)
  size = size + #item
end
out:write([[</ol><div><ul class="pager"><li class="current">Page 1 of 50</li>
<li class="next"><a href="page-2.html">next</a></li></ul></div></section></div></body></html>
]])
out:close()
