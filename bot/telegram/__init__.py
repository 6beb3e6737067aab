"""The Telegram front end: the application, its handlers, rendering, the chat store, access and retries."""
