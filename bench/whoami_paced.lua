-- wrk script: GET /_matrix/client/v3/account/whoami at a paced rate, for
-- the latency of a light steady load while something else runs (the login
-- storm of bench/run.sh). Each connection waits DELAY_MS (argument after
-- `--`, default 4) before each request; wrk's latency excludes that wait.
-- The token comes in the Authorization header given to wrk with -H.

function init(args)
  delay_ms = tonumber(args[1] or "4")
end

function delay()
  return delay_ms
end
