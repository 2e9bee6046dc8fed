-- Scenario 1: POST /permits, every request with a licence plate never used before.
-- args[1] is a salt unique to the run (e.g. "Q3B"); each thread numbers its own requests.
local counter = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  salt = args[1] or "Q0A"
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local plate = string.format("%s%d-%06d", salt, tid, counter)
  local body = string.format(
    '{"name": "Bench Resident", "license_plate": "%s", "address": "1 Load Street"}', plate)
  return wrk.format("POST", "/permits", nil, body)
end
