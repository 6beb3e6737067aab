"""Fakes for the Telegram handler tests, in python-telegram-bot's own test style.

`RecordingRequest` stands in for the network: it records every Bot API call (method and parameters)
and answers with canned JSON; tests feed real `Update` objects through `application.process_update`.
`FakePipeline` answers from a table, with the real question cleaning and follow-up resolution.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from telegram._utils.defaultvalue import DEFAULT_NONE
from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

from rag.errors import ArticleUnreadable
from rag.pipeline import clean_question
from rag.question.followups import Conversation, resolve_followup
from rag.retrieval.topics import TopicMatch, topic_words
from rag.types import Answer, Article, ArticleInfo, Citation, IndexStats, IngestReport

TOKEN = "4242:FAKE-token-for-handler-tests"
BOT_ID = 4242
BOT_USERNAME = "NewsbotTestBot"
BASE = "https://api.test"  # never contacted: RecordingRequest answers everything

OMAN_PASSAGE = (
    "Under the agreement, Iran and Russia aim to enhance collaboration.\n\n"
    "“Oman’s mediation between Iran and the United States has been highly active and positive,” Dedov added."
)
ISLAMABAD_PASSAGE = (
    "He previously served as deputy ambassador in Tehran from 2004 to 2009, "
    "and later as ambassador to Islamabad for six years beginning in 2013."
)
TITLE = "Tehran–Moscow partnership will not yield to foreign pressure: Russian envoy"


def citation(n: int, text: str, paragraphs: tuple[int, ...]) -> Citation:
    return Citation(n, "seed", TITLE, "2025-11-01T19:37:00", "", text, 0, len(text), paragraphs)


class RecordingRequest(BaseRequest):
    """Records `(method, parameters)` of each call and answers it from canned JSON.

    `fail[method]` is a queue of `(status, body)` answers given before the canned one;
    `files[file_path]` holds bytes served to downloads.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.files: dict[str, bytes] = {}
        self._message_id = 500

    @property
    def read_timeout(self) -> float:
        return 1.0

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = DEFAULT_NONE,
        write_timeout: ODVInput[float] = DEFAULT_NONE,
        connect_timeout: ODVInput[float] = DEFAULT_NONE,
        pool_timeout: ODVInput[float] = DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if method == "GET":  # a file download
            path = "documents/" + url.rsplit("/documents/", 1)[1]  # PTB quotes the token's ':' in file URLs
            self.calls.append(("download", {"file_path": path}))
            return 200, self.files[path]
        endpoint = url.rsplit("/", 1)[1]
        params = dict(request_data.parameters) if request_data else {}
        self.calls.append((endpoint, params))
        if self.fail.get(endpoint):
            status, body = self.fail[endpoint].pop(0)
            return status, json.dumps(body).encode()
        return 200, json.dumps({"ok": True, "result": self.result(endpoint, params)}).encode()

    def result(self, endpoint: str, params: dict[str, Any]) -> Any:
        if endpoint == "getMe":
            return {"id": BOT_ID, "is_bot": True, "first_name": "Newsbot", "username": BOT_USERNAME}
        if endpoint == "sendMessage":
            self._message_id += 1
            message: dict[str, Any] = {
                "message_id": self._message_id,
                "date": 1,
                "chat": {"id": params["chat_id"], "type": "private"},
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Newsbot", "username": BOT_USERNAME},
                "text": params["text"],
            }
            if "reply_markup" in params:
                message["reply_markup"] = params["reply_markup"]
            return message
        if endpoint == "getFile":
            path = f"documents/{params['file_id']}"
            return {"file_id": params["file_id"], "file_unique_id": "u", "file_path": path}
        return True  # sendChatAction, setMyCommands, answerCallbackQuery


def refusal(question: str) -> Answer:
    return Answer(question=question, text="I could not find this in the articles.", refused=True)


class FakeAnswerer:
    """Stands in for the pipeline's answerer (/about names its class); FakePipeline answers itself."""

    def answer(self, question: str, passages: object) -> Answer:
        return refusal(question)


class FakePipeline:
    """Answers by keyword, records what it was asked (with the conversation it saw), indexes in a list."""

    def __init__(self) -> None:
        self.answerer: object = FakeAnswerer()
        self.asked: list[tuple[str, str, list[str]]] = []  # (question, standalone, earlier standalones)
        self.indexed: list[Article] = []
        self.gate: threading.Event | None = None  # when set, ask() waits for it (bounded)
        self.before_answer: Callable[[str], None] | None = None

    def ask(self, question: str, conversation: Conversation | None = None) -> Answer:
        question = clean_question(question)
        history = conversation.standalones() if conversation else []
        standalone = resolve_followup(question, history)
        self.asked.append((question, standalone, history))
        if self.before_answer:
            self.before_answer(standalone)
        if self.gate is not None:
            assert self.gate.wait(10), "the test never released the fake pipeline"
        if "Oman" in standalone:
            answer = Answer(
                question=question,
                text="“Oman’s mediation … has been highly active and positive,” Dedov added. [1]",
                refused=False,
                citations=(citation(1, OMAN_PASSAGE, (11, 12)),),
            )
        elif "Islamabad" in standalone or "Dedov" in standalone:
            answer = Answer(
                question=question,
                text="He was ambassador to Islamabad for six years beginning in 2013. [1]",
                refused=False,
                citations=(citation(1, ISLAMABAD_PASSAGE, (21,)),),
            )
        else:
            answer = refusal(question)
        answer = Answer(answer.question, answer.text, answer.refused, answer.citations, standalone_question=standalone)
        if conversation is not None:
            conversation.add(question, standalone, answer)
        return answer

    def articles(self) -> list[ArticleInfo]:
        seed = ArticleInfo("seed", TITLE, "", "2025-11-01T19:37:00", 10, "h")
        extra = [ArticleInfo(a.doc_id, a.title, a.source, a.published, 1, a.content_hash) for a in self.indexed]
        return [seed, *extra]

    def version(self) -> int:
        return 1 + len(self.indexed)

    def stats(self) -> IndexStats:
        articles = self.articles()
        dates = sorted(a.published[:10] for a in articles if a.published)
        return IndexStats(len(articles), sum(a.chunks for a in articles), dates[0], dates[-1], self.version())

    def ingest(self, items: list[Article | ArticleUnreadable]) -> IngestReport:
        report = IngestReport()
        for item in items:
            if isinstance(item, ArticleUnreadable):
                report.failed.append(str(item))
            else:
                self.indexed.append(item)
                report.added.append(item.doc_id)
                report.chunks += 1
        return report

    # --- the news desk: every word of a topic in the article is a match -------------------------
    def _about(self, topic: str, article: Article) -> bool:
        text = f"{article.title} {article.text}".lower()
        return all(w in text for w in topic_words(topic))

    def _current(self) -> dict[str, Article]:
        return {a.doc_id: a for a in self.indexed}  # an edited article replaces the earlier one

    def topic_matches(self, topic: str, doc_ids: list[str]) -> list[TopicMatch]:
        current = self._current()
        found = [current[d] for d in dict.fromkeys(doc_ids) if d in current and self._about(topic, current[d])]
        return [TopicMatch(a.doc_id, 1.0, 1.0, 1.0, a.text.split(".")[0] + ".", 0, 0, None) for a in found]

    def article(self, doc_id: str) -> Article | None:
        return self._current().get(doc_id)

    def latest(self, topic: str = "", limit: int = 5, offset: int = 0) -> tuple[list[Article], int]:
        newest = sorted(self._current().values(), key=lambda a: a.published or "", reverse=True)
        if topic:
            newest = [a for a in newest if self._about(topic, a)]
        return newest[offset : offset + limit], len(newest)
