-- Neovim's built-in LSP client against `redgreen lsp` (tests/editors.rs runs
-- this headless). Written for Neovim 0.7 (Debian 12): vim.lsp.start_client
-- and buf_attach_client, as lspconfig does underneath. Writes what the
-- editor got to $RG_OUT as JSON.
local root = os.getenv('RG_ROOT')
local bin = os.getenv('RG_BIN')
local out = os.getenv('RG_OUT')

vim.cmd('edit ' .. vim.fn.fnameescape(root .. '/features/web.feature'))
local buf = vim.api.nvim_get_current_buf()
local client = vim.lsp.start_client({
  name = 'redgreen',
  cmd = { bin, 'lsp' },
  root_dir = root,
  workspace_folders = { { uri = vim.uri_from_fname(root), name = 'project' } },
})
vim.lsp.buf_attach_client(buf, client)

local got = { diagnostics = {} }
vim.wait(20000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
for _, d in ipairs(vim.diagnostic.get(buf)) do
  table.insert(got.diagnostics, { lnum = d.lnum, col = d.col, message = d.message })
end

local uri = vim.uri_from_bufnr(buf)
local function ask(method, params)
  local answers = vim.lsp.buf_request_sync(buf, method, params, 10000) or {}
  for _, answer in pairs(answers) do
    return answer.result
  end
end

got.actions = ask('textDocument/codeAction', {
  textDocument = { uri = uri },
  range = { start = { line = 3, character = 4 }, ['end'] = { line = 3, character = 4 } },
  context = { diagnostics = {} },
})
got.hover = ask('textDocument/hover', { textDocument = { uri = uri }, position = { line = 4, character = 12 } })
got.definition = ask('textDocument/definition', { textDocument = { uri = uri }, position = { line = 5, character = 12 } })
got.symbols = ask('textDocument/documentSymbol', { textDocument = { uri = uri } })

-- Type a new step line and ask for completion at its end.
vim.api.nvim_buf_set_lines(buf, -1, -1, false, { '    Then the pa' })
local last = vim.api.nvim_buf_line_count(buf) - 1
got.completion = ask('textDocument/completion', { textDocument = { uri = uri }, position = { line = last, character = 15 } })

local file = io.open(out, 'w')
file:write(vim.fn.json_encode(got))
file:close()
vim.lsp.stop_client(client)
vim.cmd('qa!')
