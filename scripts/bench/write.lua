-- wrk script: the write benchmark's requests, and report.lua's JSON line (wrk runs in
-- scripts/bench/). wrk -t1 -s write.lua URL -- MODE KEY FIRST COUNT
--   post     POST /api/items
--   put      PUT /api/items/{id}, id cycling over FIRST .. FIRST+COUNT-1
--   delete   DELETE /api/items/{id}, id from FIRST up, each once
dofile("report.lua")

local mode, key, first, count, n = "post", "", 1, 1, 0
local body = '{"name":"bench item","price":12.5}'

function init(args)
  mode = args[1] or "post"
  key = args[2] or ""
  first = tonumber(args[3] or "1")
  count = tonumber(args[4] or "1")
end

function request()
  local headers = { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" }
  n = n + 1
  if mode == "post" then
    return wrk.format("POST", "/api/items", headers, body)
  elseif mode == "put" then
    return wrk.format("PUT", "/api/items/" .. (first + n % count), headers, body)
  end
  return wrk.format("DELETE", "/api/items/" .. (first + n - 1), headers)
end
