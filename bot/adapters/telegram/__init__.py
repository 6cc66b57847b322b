"""The Telegram adapter: one bot, through python-telegram-bot, for every chat it posts to
(``sender``), and the source of the replies followers post in its groups and private chats
(``reader``); ``transport`` holds what they share, the bot and the translation of its errors.

The only package that imports ``telegram``. It translates, it does not decide: each failure
becomes one of the errors of ``bot.ports`` and the publisher (or the collector) chooses
what to do. ``TelegramSender`` publishes and never reads updates; ``TelegramReader`` reads
updates (getUpdates) and reacts to replies. Only one reader may poll a token at a time.
"""
