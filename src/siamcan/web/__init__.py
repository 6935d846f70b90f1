"""The local web page of ``siamcan track SOURCE`` (no ``--init``: draw the box, track, watch the result) and
``siamcan view`` (results already computed). A small Starlette app served by uvicorn on 127.0.0.1 with a random
token (:mod:`siamcan.web.server`); the page is plain HTML/JS in ``static/`` with uPlot (MIT, vendored from its npm
package, ``static/vendor/uPlot.LICENSE``): nothing is fetched from the network."""
