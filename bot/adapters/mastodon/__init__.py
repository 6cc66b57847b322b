"""The Mastodon adapter: one account on one instance, through Mastodon.py, that publishes
(``sender``) and reads what followers post (``reader``, with ``text`` turning status HTML
into plain text); ``client`` holds what they share, the client and the translation of its
errors. The only package that imports ``mastodon``.
"""
