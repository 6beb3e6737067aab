#!/usr/bin/env node
// Launcher for telegram-test-api 4.2.1 (a local Telegram Bot API emulator) plus a small
// compatibility layer for python-telegram-bot (PTB) 22.8. See README.md for the gap list.
//
//   node launcher.js [port]        (or TELEGRAM_EMULATOR_PORT; 0 = pick a free port)
//
// Listens on 127.0.0.1 only, prints `READY <port>` on stdout once listening, exits 0 on SIGTERM.
'use strict';

const express = require('express');
const TelegramServer = require('telegram-test-api');

const HOST = '127.0.0.1';
const port = Number(process.argv[2] || process.env.TELEGRAM_EMULATOR_PORT || 9000);
const MAX_POLL_SECONDS = 50; // a long poll never waits longer than min(timeout, this)
const log = (...a) => console.error('[telegram-emulator]', ...a);

const server = new TelegramServer({ port: port || 9000, host: HOST, storage: 'RAM', storeTimeout: 3600 });
server.config.port = port; // normalizeConfig turns 0 into 9000; we want 0 = ephemeral port

// ---- shared state of the compat layer -------------------------------------------------------
const chats = new Map(); // chat id -> last chat object seen in a user update
const files = new Map(); // file_id -> {token, file_path, file_name, mime_type, data}
const pollers = new Set(); // pending long polls: {token, wake}
const recordsByToken = new Map();
const records = (token) => {
  if (!recordsByToken.has(token)) {
    recordsByToken.set(token, {
      chatActions: [], commands: [], edits: [], deletions: [], callbackAnswers: [], webhookErrors: [],
    });
  }
  return recordsByToken.get(token);
};
const nowSec = () => Math.floor(Date.now() / 1000);
const botUser = (token) => ({
  id: Number(String(token).split(':')[0]) || 666, is_bot: true, first_name: 'Test First name',
  username: 'TestNameBot', can_join_groups: true, can_read_all_group_messages: false,
  supports_inline_queries: false, can_connect_to_business: false, has_main_web_app: false,
});
const chatFor = (chatId) => chats.get(String(chatId)) || { id: Number(chatId), type: 'private', first_name: 'Test' };
const chatIdOf = (v) => (/^-?\d+$/.test(String(v)) ? Number(v) : v); // form data sends strings
const json = (v) => { try { return typeof v === 'string' ? JSON.parse(v) : v; } catch (e) { return v; } };
const inlineOnly = (m) => (m && typeof m === 'object' && 'inline_keyboard' in m ? m : undefined);
const ok = (res, result) => res.json({ ok: true, result });
const fail = (res, code, description) => res.status(code).json({ ok: false, error_code: code, description });
// Build a PTB-valid Message from a stored bot-message record (package format: {time, messageId, message}).
const messageFrom = (rec, extra = {}) => {
  const m = rec.message;
  return {
    message_id: rec.messageId, date: Math.floor(rec.time / 1000), chat: chatFor(m.chat_id),
    from: botUser(rec.botToken), text: m.text, entities: m.entities, caption: m.caption,
    document: m.document, reply_markup: inlineOnly(m.reply_markup), ...extra,
  };
};
const findBotRecord = (token, chatId, messageId) => server.storage.botMessages.find((u) => (
  u.botToken === token && String(u.messageId) === String(messageId) && String(u.message.chat_id) === String(chatId)));
const wake = (token) => pollers.forEach((p) => p.token === token && p.wake());

// Gap 7: webhook delivery sends the secret-token header and never kills the process.
async function deliverWebhook(token, hook, body) {
  try {
    const headers = { 'content-type': 'application/json' };
    if (hook.secret_token) headers['X-Telegram-Bot-Api-Secret-Token'] = hook.secret_token;
    const r = await fetch(hook.url, {
      method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(10000),
    });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
  } catch (e) {
    log(`webhook delivery to ${hook.url} failed: ${e.message}`);
    records(token).webhookErrors.push({ date: nowSec(), url: hook.url, update_id: body.update_id, error: e.message });
  }
}

// Gaps 6+7: replaces TelegramServer#addUserUpdate. Every user update is stored (so the history
// shows it); with a webhook it is delivered in the background and marked confirmed, otherwise it
// waits to be polled, and pending long polls of that bot are woken.
server.addUserUpdate = async function addUserUpdate(update) {
  if (!update.botToken) throw new Error('The update must contain a `botToken` field.');
  const chat = (update.message && update.message.chat)
    || (update.callbackQuery && update.callbackQuery.message && update.callbackQuery.message.chat);
  if (chat && chat.id !== undefined) chats.set(String(chat.id), chat);
  const hook = this.webhooks[update.botToken];
  update.confirmed = Boolean(hook);
  this.storage.userMessages.push(update);
  this.updateId++;
  if (hook) deliverWebhook(update.botToken, hook, TelegramServer.formatUpdate(update));
  else wake(update.botToken);
};

// Gap 5 (+ hygiene): wrap the static update formatter: callback queries get `chat_instance` and a
// full Message (looked up from the bot's history), and the user side's `botToken` is stripped.
const origFormat = TelegramServer.formatUpdate;
TelegramServer.formatUpdate = (update) => {
  const out = origFormat(update);
  if (out.message) {
    delete out.message.botToken;
    if (out.message.date === undefined) out.message.date = nowSec();
  }
  if (update.kind && out.message) { // a channel post (see /sendChannelPost): the same Message under its own key
    if (update.postId) out.message.message_id = Number(update.postId);
    out[update.kind] = out.message;
    delete out.message;
  }
  const cq = out.callback_query;
  if (cq) {
    const src = update.callbackQuery;
    const msg = src.message || {};
    cq.chat_instance = src.chat_instance || String((msg.chat && msg.chat.id) || (cq.from && cq.from.id));
    if (src.message) {
      const rec = msg.chat && findBotRecord(update.botToken, msg.chat.id, msg.message_id);
      cq.message = { ...(rec ? messageFrom(rec) : { date: nowSec() }), ...msg };
      delete cq.message.botToken;
    }
  }
  return out;
};

// ---- routes that run BEFORE the package's own express app -----------------------------------
const app = express();
app.use(express.json({ limit: '30mb' }));
app.use(express.urlencoded({ extended: true, limit: '30mb' }));
// Bot-side sendDocument uploads arrive as multipart/form-data, which the package cannot parse.
app.use(express.raw({ type: 'multipart/form-data', limit: '30mb' }), (req, _res, next) => {
  const boundary = /boundary="?([^";]+)"?/i.exec(req.headers['content-type'] || '');
  if (!Buffer.isBuffer(req.body) || !boundary) return next();
  const body = {};
  req.files = {};
  const delim = Buffer.from(`--${boundary[1]}`);
  for (let pos = req.body.indexOf(delim); pos !== -1;) {
    const next = req.body.indexOf(delim, pos + delim.length);
    if (next === -1) break;
    const part = req.body.subarray(pos + delim.length + 2, next - 2); // strip the CRLFs around it
    const sep = part.indexOf('\r\n\r\n');
    const head = part.subarray(0, sep).toString('utf8');
    const name = (/;\s*name="([^"]*)"/i.exec(head) || [])[1];
    const filename = (/;\s*filename="([^"]*)"/i.exec(head) || [])[1];
    const type = (/content-type:\s*([^\r\n]+)/i.exec(head) || [])[1];
    if (filename !== undefined) req.files[name] = { filename, type, data: part.subarray(sep + 4) };
    else if (name !== undefined) body[name] = part.subarray(sep + 4).toString('utf8');
    pos = next;
  }
  req.body = body;
  return next();
});
// Parse the JSON-encoded parameters PTB sends as strings in form data.
app.use('/bot:token', (req, _res, next) => {
  for (const k of ['reply_markup', 'entities', 'caption_entities', 'link_preview_options',
    'reply_parameters', 'commands', 'scope', 'allowed_updates']) {
    if (req.body && k in req.body) req.body[k] = json(req.body[k]);
  }
  next();
});
const bot = (method, handler) => app.post(`/bot:token/${method}`, (req, res) => handler(req, res, req.params.token));

// Gap 1: getMe lacks is_bot (and the other User fields PTB reads).
bot('getMe', (req, res, token) => ok(res, botUser(token)));

// Gap 2: sendMessage returned `date` in ms and echoed request params (e.g. JSON strings) as a Message.
bot('sendMessage', (req, res, token) => {
  if (req.body.text === undefined || req.body.chat_id === undefined) return fail(res, 400, 'Bad Request: chat_id and text are required');
  server.addBotMessage(req.body, token); // keeps text, parse_mode, reply_markup in /getUpdatesHistory
  return ok(res, messageFrom(server.storage.botMessages[server.storage.botMessages.length - 1]));
});

// Extra (cheap): bot-side sendDocument, by upload, attach:// or a known file_id.
bot('sendDocument', (req, res, token) => {
  const ref = req.body.document;
  const upload = req.files && (req.files.document
    || (typeof ref === 'string' && ref.startsWith('attach://') && req.files[ref.slice(9)]));
  let stored = typeof ref === 'string' ? files.get(ref) : undefined;
  if (upload) stored = storeFile(token, upload.filename, upload.type || 'application/octet-stream', upload.data);
  if (!stored || req.body.chat_id === undefined) return fail(res, 400, 'Bad Request: chat_id and a document are required');
  server.addBotMessage({ ...req.body, document: documentOf(stored) }, token);
  return ok(res, messageFrom(server.storage.botMessages[server.storage.botMessages.length - 1]));
});

// Gap 3: editMessageText / editMessageReplyMarkup returned null; return the edited Message and
// record the edit (the history shows the new text/markup).
const edit = (method) => bot(method, (req, res, token) => {
  const b = req.body;
  const changes = method === 'editMessageText'
    ? { text: b.text, parse_mode: b.parse_mode, entities: b.entities, reply_markup: b.reply_markup }
    : { reply_markup: b.reply_markup };
  records(token).edits.push({ method, chat_id: chatIdOf(b.chat_id), message_id: Number(b.message_id), inline_message_id: b.inline_message_id, ...changes });
  if (b.inline_message_id) return ok(res, true);
  const rec = findBotRecord(token, b.chat_id, b.message_id);
  if (!rec) return fail(res, 400, 'Bad Request: message to edit not found');
  rec.message = { ...rec.message, ...changes };
  return ok(res, messageFrom(rec, { edit_date: nowSec() }));
});
edit('editMessageText');
edit('editMessageReplyMarkup');

// Gap 4: sendChatAction, setMyCommands, getFile and file downloads were HTTP 500.
bot('sendChatAction', (req, res, token) => {
  records(token).chatActions.push({ chat_id: chatIdOf(req.body.chat_id), action: req.body.action, date: nowSec() });
  return ok(res, true);
});
const commandsKey = (b) => JSON.stringify([b.scope || { type: 'default' }, b.language_code || '']);
bot('setMyCommands', (req, res, token) => {
  if (!Array.isArray(req.body.commands)) return fail(res, 400, 'Bad Request: commands must be an array');
  const list = records(token).commands.filter((c) => c.key !== commandsKey(req.body));
  list.push({ key: commandsKey(req.body), scope: req.body.scope || { type: 'default' }, language_code: req.body.language_code || '', commands: req.body.commands });
  records(token).commands = list;
  return ok(res, true);
});
bot('getMyCommands', (req, res, token) => {
  const hit = records(token).commands.find((c) => c.key === commandsKey(req.body));
  return ok(res, hit ? hit.commands : []);
});
bot('deleteMyCommands', (req, res, token) => {
  records(token).commands = records(token).commands.filter((c) => c.key !== commandsKey(req.body));
  return ok(res, true);
});
let fileCounter = 0;
function storeFile(token, fileName, mimeType, data) {
  fileCounter += 1;
  const ext = (/\.[A-Za-z0-9]{1,8}$/.exec(fileName || '') || [''])[0];
  const f = {
    token, file_id: `FILE${fileCounter}-${Date.now()}`, file_unique_id: `U${fileCounter}`,
    file_path: `documents/file_${fileCounter}${ext}`, file_name: fileName, mime_type: mimeType, data,
  };
  files.set(f.file_id, f);
  return f;
}
const documentOf = (f) => ({
  file_id: f.file_id, file_unique_id: f.file_unique_id, file_name: f.file_name, mime_type: f.mime_type, file_size: f.data.length,
});
bot('getFile', (req, res, token) => {
  const f = files.get(String(req.body.file_id));
  if (!f || f.token !== token) return fail(res, 400, 'Bad Request: invalid file_id');
  return ok(res, { file_id: f.file_id, file_unique_id: f.file_unique_id, file_size: f.data.length, file_path: f.file_path });
});
app.get('/file/bot:token/*', (req, res) => {
  const f = [...files.values()].find((x) => x.token === req.params.token && x.file_path === req.params[0]);
  if (!f) return fail(res, 404, 'Not Found');
  return res.type(f.mime_type || 'application/octet-stream').send(f.data);
});

// User side: upload a document; it reaches the bot as an update with message.document.
app.post('/sendDocument', async (req, res) => {
  const b = req.body;
  if (!b.botToken || b.chatId === undefined || !b.fileName || typeof b.contentBase64 !== 'string') {
    return fail(res, 400, 'botToken, chatId, fileName and contentBase64 are required');
  }
  const f = storeFile(b.botToken, b.fileName, b.mimeType || 'application/octet-stream', Buffer.from(b.contentBase64, 'base64'));
  const userId = b.userId === undefined ? b.chatId : b.userId;
  const message = {
    botToken: b.botToken, date: nowSec(), document: documentOf(f),
    from: b.from || { id: Number(userId), is_bot: false, first_name: 'Test' },
    chat: b.chat || { id: Number(b.chatId), type: 'private', first_name: 'Test' },
  };
  if (b.caption !== undefined) message.caption = b.caption;
  const ids = { update_id: server.updateId, message_id: server.messageId, file_id: f.file_id };
  await server.addUserMessage(message);
  return ok(res, ids);
});
// User side: the package's send routes reply before the update exists and crash the process on bad
// input (unhandled rejection); these versions await, report errors as 400, and return the ids.
for (const [route, fn] of [['/sendMessage', 'addUserMessage'], ['/sendCommand', 'addUserCommand'], ['/sendCallback', 'addUserCallback']]) {
  app.post(route, async (req, res) => {
    const ids = { update_id: server.updateId, message_id: server.messageId, callback_query_id: String(server.callbackId) };
    try {
      await server[fn](req.body);
      return ok(res, ids);
    } catch (e) {
      return fail(res, 400, e.message);
    }
  });
}
// Extra: a channel post (or, with `edited` and the post's `messageId`, its edit) as the bot, an admin of the
// channel, receives it: a `channel_post` / `edited_channel_post` update with no sender.
app.post('/sendChannelPost', async (req, res) => {
  const b = req.body;
  if (!b.botToken || !b.chat || b.chat.type !== 'channel' || (b.edited && !b.messageId)) {
    return fail(res, 400, 'botToken and a channel chat are required (and messageId for an edit)');
  }
  const message = { botToken: b.botToken, chat: b.chat, date: b.date || nowSec() };
  if (b.text !== undefined) message.text = b.text;
  if (b.edited) message.edit_date = nowSec();
  const ids = { update_id: server.updateId, message_id: Number(b.messageId || server.messageId) };
  const kind = b.edited ? 'edited_channel_post' : 'channel_post';
  await server.addUserUpdate({ ...server.getCommonFields(b.botToken), message, kind, postId: b.messageId });
  if (!b.messageId) server.messageId++;
  return ok(res, ids);
});
// User side: what the bot did besides sending messages (chat actions, commands, edits, ...).
app.post('/getRecords', (req, res) => ok(res, records(req.body.token)));

// Gap 6: getUpdates ignored offset/timeout. Updates stay pending until confirmed by an offset
// (update_id < offset); with timeout > 0 and nothing pending, wait for a new update or the timeout.
bot('getUpdates', (req, res, token) => {
  const offset = Number(req.body.offset || 0);
  const limit = Math.min(Math.max(Number(req.body.limit) || 100, 1), 100);
  const timeoutMs = Math.min(Math.max(Number(req.body.timeout) || 0, 0), MAX_POLL_SECONDS) * 1000;
  const mine = () => server.storage.userMessages.filter((u) => u.botToken === token && !u.confirmed);
  const confirm = (u) => { u.confirmed = true; u.isRead = true; };
  if (offset > 0) mine().filter((u) => u.updateId < offset).forEach(confirm);
  if (offset < 0) mine().slice(0, offset).forEach(confirm); // keep only the last -offset updates
  const pending = () => mine().slice(0, limit);
  if (pending().length || !timeoutMs) return ok(res, pending().map(TelegramServer.formatUpdate));
  const poller = { token };
  const timer = setTimeout(() => poller.wake(), timeoutMs);
  poller.wake = () => {
    clearTimeout(timer);
    pollers.delete(poller);
    if (!res.writableEnded) ok(res, pending().map(TelegramServer.formatUpdate));
  };
  pollers.add(poller);
  res.on('close', () => { clearTimeout(timer); pollers.delete(poller); }); // the bot gave up
  return undefined;
});

// Gap 7 + sane answers: setWebhook / deleteWebhook / getWebhookInfo / answerCallbackQuery / deleteMessage.
bot('setWebhook', (req, res, token) => {
  const b = req.body;
  if (!b.url) { delete server.webhooks[token]; return ok(res, true); }
  let host;
  try { host = new URL(b.url).hostname; } catch (e) { return fail(res, 400, 'Bad Request: invalid webhook URL'); }
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) return fail(res, 400, 'Bad Request: the emulator only delivers to 127.0.0.1');
  if (b.drop_pending_updates === true || b.drop_pending_updates === 'true') dropPending(token);
  server.webhooks[token] = { url: b.url, secret_token: b.secret_token, max_connections: Number(b.max_connections) || 40, allowed_updates: b.allowed_updates };
  return ok(res, true);
});
const dropPending = (token) => server.storage.userMessages.forEach((u) => { if (u.botToken === token) u.confirmed = true; });
bot('deleteWebhook', (req, res, token) => {
  if (req.body.drop_pending_updates === true || req.body.drop_pending_updates === 'true') dropPending(token);
  delete server.webhooks[token];
  return ok(res, true);
});
bot('getWebhookInfo', (req, res, token) => {
  const hook = server.webhooks[token];
  const err = records(token).webhookErrors.slice(-1)[0];
  return ok(res, {
    url: hook ? hook.url : '', has_custom_certificate: false,
    pending_update_count: server.storage.userMessages.filter((u) => u.botToken === token && !u.confirmed).length,
    ...(hook ? { max_connections: hook.max_connections, allowed_updates: hook.allowed_updates } : {}),
    ...(err ? { last_error_date: err.date, last_error_message: err.error } : {}),
  });
});
bot('answerCallbackQuery', (req, res, token) => {
  const { callback_query_id: id, text, show_alert: alert, url } = req.body;
  records(token).callbackAnswers.push({ callback_query_id: id, text, show_alert: alert === true || alert === 'true', url });
  return ok(res, true);
});
bot('deleteMessage', (req, res, token) => {
  // The package's deleteMessage can hit a callback update that shares the message id; match exactly.
  const chatId = String(req.body.chat_id);
  const messageId = Number(req.body.message_id);
  const rec = findBotRecord(token, chatId, messageId);
  const user = server.storage.userMessages.find((u) => u.botToken === token && u.message
    && u.messageId === messageId && u.message.chat && String(u.message.chat.id) === chatId);
  if (rec) server.removeBotMessage(rec.updateId);
  else if (user) server.removeUserMessage(user.updateId);
  records(token).deletions.push({ chat_id: chatIdOf(req.body.chat_id), message_id: messageId, found: Boolean(rec || user) });
  return ok(res, true); // always ok (the package forgets old messages); see `deletions` for what was found
});

// Everything else (user-side /getUpdatesHistory, /getUpdates, unknown methods) falls through.
app.use(server.webServer);
server.webServer = app;

// Never let a stray promise rejection kill the emulator.
process.on('unhandledRejection', (e) => log('unhandled rejection:', e && e.message));

async function shutdown(signal) {
  log(`${signal}: shutting down`);
  setTimeout(() => process.exit(0), 3000).unref(); // bounded
  pollers.forEach((p) => p.wake());
  await server.stop();
  process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

server.start().then(() => {
  const actual = server.server.address().port;
  server.config.port = actual;
  server.config.apiURL = `http://${HOST}:${actual}`;
  process.stdout.write(`READY ${actual}\n`);
}, (e) => {
  log(`cannot listen on ${HOST}:${port}: ${e.message}`);
  process.exit(1);
});
