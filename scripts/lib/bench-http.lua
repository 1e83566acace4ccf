-- The wrk script of scripts/bench-http.sh. What each request is comes from the environment:
--
--   BENCH_MODE=plain     the URL as given (headers from wrk's -H)
--   BENCH_MODE=rotate    GET with `Authorization: Bearer <token>` and `X-Org: $BENCH_ORG`,
--                        the tokens of $BENCH_TOKENS (a file, one access token a line) in turn
--   BENCH_MODE=login     POST {"email", "password"} as JSON, the emails of $BENCH_EMAILS (a file,
--                        one a line) in turn, password $BENCH_PASSWORD
--   BENCH_MODE=refresh   POST {"refresh_token"} as JSON from a pool that starts with the tokens
--                        of $BENCH_TOKENS (one session each): a request takes a token out of the
--                        pool and its answer puts the new one back, so each token is spent
--                        exactly once and each session is one sequential chain (wrk sends the
--                        next request of a connection only after the previous answer). With
--                        several threads ($BENCH_THREADS), thread k takes every k-th token. An empty
--                        pool (a chain broken by an error) sends a token that is not one, which
--                        is answered 401 and counted.
--
-- At the end one line for the harness:
--   BENCH requests=N seconds=S rps=R p50_ms=… p99_ms=… non2xx=N errors=N
-- where non2xx counts answers of status 400 and above (wrk's count; these routes never
-- redirect; in refresh mode every status other than 200) and errors the socket errors
-- (connect, read, write, timeout).

local mode = os.getenv("BENCH_MODE") or "plain"
local requests = {}
local next_request = 1
local pool = {}
-- A global: done() reads it from each thread with thread:get.
bad = 0

local function lines(path)
    local out = {}
    local f = assert(io.open(path, "r"), "cannot read " .. tostring(path))
    for line in f:lines() do
        if line ~= "" then
            out[#out + 1] = line
        end
    end
    f:close()
    assert(#out > 0, path .. " is empty")
    return out
end

local threads = {}

function setup(thread)
    threads[#threads + 1] = thread
    thread:set("thread_index", #threads)
end

function init(args)
    if mode == "rotate" then
        local org = os.getenv("BENCH_ORG")
        for _, token in ipairs(lines(os.getenv("BENCH_TOKENS"))) do
            requests[#requests + 1] = wrk.format("GET", nil, {
                ["Authorization"] = "Bearer " .. token,
                ["X-Org"] = org,
            })
        end
    elseif mode == "login" then
        local password = os.getenv("BENCH_PASSWORD")
        for _, email in ipairs(lines(os.getenv("BENCH_EMAILS"))) do
            requests[#requests + 1] = wrk.format("POST", nil,
                { ["Content-Type"] = "application/json" },
                '{"email":"' .. email .. '","password":"' .. password .. '"}')
        end
    elseif mode == "refresh" then
        local count = tonumber(os.getenv("BENCH_THREADS") or "1")
        for i, token in ipairs(lines(os.getenv("BENCH_TOKENS"))) do
            if (i - 1) % count == thread_index - 1 then
                pool[#pool + 1] = token
            end
        end
    end
end

if mode == "rotate" or mode == "login" then
    request = function()
        local r = requests[next_request]
        next_request = next_request % #requests + 1
        return r
    end
elseif mode == "refresh" then
    -- wrk calls request() once on its first thread before any connection, only to count the
    -- requests it returns (pipelining); that call must not take a token out of the pool.
    local verified = false
    request = function()
        if thread_index == 1 and not verified then
            verified = true
            return wrk.format("POST", nil, { ["Content-Type"] = "application/json" },
                '{"refresh_token":"never-sent"}')
        end
        local token = table.remove(pool) or "spent-or-missing"
        return wrk.format("POST", nil, { ["Content-Type"] = "application/json" },
            '{"refresh_token":"' .. token .. '"}')
    end
    response = function(status, headers, body)
        if status == 200 then
            local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
            if token then
                pool[#pool + 1] = token
                return
            end
        end
        bad = bad + 1
    end
end

function done(summary, latency, requests)
    local non2xx = summary.errors.status
    if mode == "refresh" then
        non2xx = 0
        for _, thread in ipairs(threads) do
            non2xx = non2xx + (thread:get("bad") or 0)
        end
    end
    local e = summary.errors
    local seconds = summary.duration / 1e6
    io.write(string.format(
        "BENCH requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f non2xx=%d errors=%d\n",
        summary.requests, seconds, summary.requests / seconds,
        latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        non2xx, e.connect + e.read + e.write + e.timeout))
end
