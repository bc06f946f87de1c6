-- wrk script: registration through the user-interactive auth dance,
-- POST /_matrix/client/v3/register, two requests per registration:
--   1. {"username", "password"}          -> 401 with a UIA session
--   2. {"auth": {m.login.dummy, session}} -> 200, the user is created
-- The server keeps the first body in the session, so the second request
-- needs only the session: a thread's connections share one queue of
-- sessions waiting to be completed (response() fills it, request() takes
-- from it before it starts a new registration).
-- Usernames are unique per request: TAG_tTHREAD_COUNTER.
-- Arguments (after `--`): TAG PASSWORD.

threads = {}
sessions = {}
counter = 0
ok = 0
challenged = 0
failed = 0
limited = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  tag = args[1] or "bench"
  password = args[2] or "bench-password-1"
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  local body
  local n = #sessions
  if n > 0 then
    local session = sessions[n]
    sessions[n] = nil
    body = '{"auth":{"type":"m.login.dummy","session":"' .. session .. '"}}'
  else
    counter = counter + 1
    body = string.format(
      '{"username":"%s_t%d_%d","password":"%s","initial_device_display_name":"wrk"}',
      tag, tid, counter, password)
  end
  return wrk.format("POST", "/_matrix/client/v3/register", headers, body)
end

function response(status, hdrs, body)
  if status == 200 then
    ok = ok + 1
  elseif status == 401 then
    local session = body and string.match(body, '"session"%s*:%s*"([^"]+)"')
    if session then
      challenged = challenged + 1
      sessions[#sessions + 1] = session
    else
      failed = failed + 1
    end
  elseif status == 429 then
    limited = limited + 1
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local t_ok, t_challenged, t_failed, t_limited = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    t_ok = t_ok + t:get("ok")
    t_challenged = t_challenged + t:get("challenged")
    t_failed = t_failed + t:get("failed")
    t_limited = t_limited + t:get("limited")
  end
  io.write(string.format("mxbench: ok=%d challenged=%d failed=%d limited=%d duration_us=%d\n",
    t_ok, t_challenged, t_failed, t_limited, summary.duration))
end
