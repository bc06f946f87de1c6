-- wrk script: password login, POST /_matrix/client/v3/login (m.login.password).
-- Arguments (after `--`): PASSWORD USER [USER...]; the users are taken in turn.
-- Each good login creates a device and an access token; that is intended.
-- Globals (not locals) so that done() can read them from each thread.

threads = {}
counter = 0
ok = 0
failed = 0
limited = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  password = args[1]
  users = {}
  for i = 2, #args do users[#users + 1] = args[i] end
  headers = { ["Content-Type"] = "application/json" }
end

function request()
  counter = counter + 1
  local user = users[(counter % #users) + 1]
  local body = string.format(
    '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"%s"},"password":"%s","initial_device_display_name":"wrk"}',
    user, password)
  return wrk.format("POST", "/_matrix/client/v3/login", headers, body)
end

function response(status, hdrs, body)
  if status == 200 then ok = ok + 1
  elseif status == 429 then limited = limited + 1
  else failed = failed + 1 end
end

function done(summary, latency, requests)
  local t_ok, t_failed, t_limited = 0, 0, 0
  for _, t in ipairs(threads) do
    t_ok = t_ok + t:get("ok")
    t_failed = t_failed + t:get("failed")
    t_limited = t_limited + t:get("limited")
  end
  io.write(string.format("mxbench: ok=%d failed=%d limited=%d duration_us=%d\n",
    t_ok, t_failed, t_limited, summary.duration))
end
