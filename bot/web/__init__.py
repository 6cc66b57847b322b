"""The moderation desk: a web page where moderators work through the collected replies.

``relais web`` serves it (Starlette under uvicorn). It calls the services the CLI calls
(``bot.services.moderation`` for every rule about a reply, ``bot.services.accounts`` for
who may log in, ``bot.services.export``) and holds no rule of its own: a page reads a
request, asks a service, and renders one document (``dict``) as HTML or JSON.

- ``app``: the application, its routes and the headers every answer carries;
- ``security``: sessions (signed cookies holding ids only), CSRF tokens, slowed logins;
- ``errors``: every error the desk can answer, as a page or as JSON, in one place;
- ``i18n``: Quebec French by default, English on request (gettext catalogues, Babel);
- one module per page: ``login``, ``queue``, ``replies``, ``authors``, ``exports``,
  ``publications``, ``moderators``;
- ``templates/`` (Jinja2, autoescaped) and ``static/`` (the desk's own CSS and JS; nothing
  is loaded from another site).
"""
