-- wrk script: GET /_matrix/client/v3/account/whoami with an access token
-- picked at random for each request from a file (one token a line), so
-- that the token look-ups are spread over many rows, not one.
-- Arguments (after `--`): TOKENFILE [LIMIT [xff]]
--   LIMIT  > 0: each thread stops after LIMIT answers (0: wrk's -d only);
--   xff:   each request also sends an X-Forwarded-For address of its own
--          (THREAD+10.a.b.c, from a per-thread counter): every request is
--          a new (token, address) sighting for the client-IP table.
-- Globals (not locals) so that done() can read them from each thread.

threads = {}
counter = 0
answers = 0
ok = 0
failed = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  tokens = {}
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = "Bearer " .. line end
  end
  if #tokens == 0 then error("no tokens in " .. tostring(args[1])) end
  limit = tonumber(args[2] or "0") or 0
  xff = args[3] == "xff"
  math.randomseed(os.time() * 131 + tid * 7919)
  path = "/_matrix/client/v3/account/whoami"
end

function request()
  counter = counter + 1
  local headers = { ["Authorization"] = tokens[math.random(#tokens)] }
  if xff then
    local c = counter
    headers["X-Forwarded-For"] = string.format("%d.%d.%d.%d", 10 + tid,
      math.floor(c / 65536) % 256, math.floor(c / 256) % 256, c % 256)
  end
  return wrk.format("GET", path, headers)
end

function response(status, hdrs, body)
  answers = answers + 1
  if status == 200 then ok = ok + 1 else failed = failed + 1 end
  if limit > 0 and answers >= limit then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local t_ok, t_failed = 0, 0
  for _, t in ipairs(threads) do
    t_ok = t_ok + t:get("ok")
    t_failed = t_failed + t:get("failed")
  end
  io.write(string.format("mxbench: ok=%d failed=%d duration_us=%d max_us=%d\n",
    t_ok, t_failed, summary.duration, latency.max))
end
