-- Argo CD health check of a RaftRun (raftoperator.io/v1alpha1).
-- Install as argocd-cm key resource.customizations.health.raftoperator.io_RaftRun (docs/gitops.md).
-- Argo CD calls it with `obj`, the live RaftRun, and reads hs.status and hs.message.
-- Lua 5.1 only (Argo CD runs gopher-lua): no goto, no integer division, no string.format %q.
--
--   no status yet                                    -> Progressing
--   phase Failed, or condition Stalled=True          -> Degraded (status.message)
--   condition Ready=False, reason ReconcileError     -> Degraded (the error; clears on the next good reconcile)
--   status of an older generation                    -> Progressing
--   phase Succeeded                                  -> Healthy (the score)
--   phase Suspended                                  -> Suspended
--   any other phase                                  -> Progressing ("<phase>, stage <stage>: <progress>")

local hs = {}

local function find_condition(status, ctype)
  if status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == ctype then
      return condition
    end
  end
  return nil
end

local status = obj.status
if status == nil then
  status = {}
end

local stalled = find_condition(status, "Stalled")
if status.phase == "Failed" or (stalled ~= nil and stalled.status == "True") then
  hs.status = "Degraded"
  if status.message ~= nil then
    hs.message = status.message
  elseif stalled ~= nil and stalled.message ~= nil then
    hs.message = stalled.message
  else
    hs.message = "The run failed"
  end
  return hs
end

local ready = find_condition(status, "Ready")
if ready ~= nil and ready.status == "False" and ready.reason == "ReconcileError" then
  hs.status = "Degraded"
  hs.message = "Reconcile error: " .. (ready.message or "")
  return hs
end

if status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for raft-operator to reconcile the run"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = string.format("Waiting for raft-operator to reconcile generation %d", generation)
  return hs
end

if status.phase == "Succeeded" then
  hs.status = "Healthy"
  if status.score ~= nil then
    hs.message = "Succeeded: " .. status.score
  else
    hs.message = "Succeeded"
  end
  return hs
end

if status.phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = status.message or "Suspended: set spec.suspend to false to resume"
  return hs
end

hs.status = "Progressing"
local message = status.phase
if status.stage ~= nil then
  message = message .. ", stage " .. status.stage
end
if status.progress ~= nil and status.progress ~= "" then
  message = message .. ": " .. status.progress
end
hs.message = message
return hs
