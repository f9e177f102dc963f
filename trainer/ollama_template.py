"""The Ollama Modelfile of an export: FROM the chosen GGUF, and a TEMPLATE that renders whole conversations.

The TEMPLATE is derived from the model's own Jinja chat template by rendering conversations made of placeholder
texts and cutting the output where each message begins and ends: what surrounds a system, user and assistant
message (and a tool result and an assistant's tool calls, where the template renders them), the default system
turn some templates add when there is none (SmolLM2's), and the generation prompt. It becomes a Go text/template
over Ollama's `.Messages` (Ollama also fills `.System` with the joined system messages and `.Tools`):

    {{ if not .System }}<default system turn>{{ end }}{{ range .Messages }}{{ if eq .Role "system" }}...{{ end }}
    {{ end }}<generation prompt when the last message is not the assistant's>

Only templates that render a conversation message by message (each message's text the same whatever follows it)
can be cut this way; for others the Modelfile keeps the one-system-one-user TEMPLATE and says so.
"""
from __future__ import annotations

import json

SYS, U1, A1, U2, A2 = "TDSYSTEMX1", "TDUSERX1", "TDASSISTX1", "TDUSERX2", "TDASSISTX2"
TOOL1, TOOL2, FN1, FN2, CONTENT = "TDTOOLX1", "TDTOOLX2", "tdfnxa", "tdfnxb", "TDCONTENTX"
ARGS = {"tdargx": "tdvalx"}


class TemplateError(ValueError):
    pass


def _render(tok, msgs, gen=False, **kw) -> str:
    return tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen, **kw)


def _lit(text: str) -> str:
    """Literal text inside a Go template: only "{{" needs quoting."""
    return text.replace("{{", "\x00").replace("\x00", '{{ "{{" }}')


def _split(seg: str, mark: str) -> tuple[str, str]:
    if seg.count(mark) != 1:
        raise TemplateError(f"the chat template does not render {mark!r} exactly once in {seg!r}")
    a, b = seg.split(mark)
    return a, b


def _after(longer: str, shorter: str) -> str:
    if not longer.startswith(shorter):
        raise TemplateError("the chat template renders a message differently depending on what follows it")
    return longer[len(shorter):]


def _call(name: str) -> dict:
    return {"type": "function", "function": {"name": name, "arguments": ARGS}}


def _tool_parts(tok, base: list[dict]) -> str | None:
    """The Go branches for tool calls and tool results, or None when the template does not render them."""
    before = _render(tok, base)
    one = {"role": "assistant", "content": CONTENT, "tool_calls": [_call(FN1)]}
    two = {"role": "assistant", "content": CONTENT, "tool_calls": [_call(FN1), _call(FN2)]}
    try:
        seg1 = _after(_render(tok, base + [one]), before)
        seg2 = _after(_render(tok, base + [two]), before)
        r1 = _render(tok, base + [one, {"role": "tool", "content": TOOL1}])
        r2 = _render(tok, base + [one, {"role": "tool", "content": TOOL1}, {"role": "tool", "content": TOOL2}])
    except Exception:  # noqa: BLE001 - a template without tool support raises or ignores the fields
        return None
    if FN1 not in seg1 or FN2 not in seg2:
        return None
    size = len(seg2) - len(seg1)
    for x in range(size, len(seg1) + 1):
        unit = seg1[x - size:x]
        if seg2[:x] == seg1[:x] and seg2[x + size:] == seg1[x:] and seg2[x:x + size] == unit.replace(FN1, FN2):
            break
    else:
        return None
    pre, post = seg1[:x - size], seg1[x:]
    args = [json.dumps(ARGS, ensure_ascii=False), json.dumps(ARGS, ensure_ascii=False, separators=(",", ":"))]
    arg_text = next((a for a in args if a in unit), None)
    if unit.count(FN1) != 1 or arg_text is None or CONTENT in post or pre.count(CONTENT) > 1:
        return None
    go_unit = _lit(unit).replace(FN1, "{{ .Function.Name }}").replace(_lit(arg_text), "{{ json .Function.Arguments }}")
    go_pre = _lit(pre).replace(CONTENT, "{{ .Content }}")
    try:
        tp, tq = _split(_after(r1, _render(tok, base + [one])), TOOL1)
        if _after(r2, r1) != tp + TOOL2 + tq:
            return None
    except TemplateError:
        return None
    return (f'{{{{ else if and (eq .Role "assistant") .ToolCalls }}}}{go_pre}{{{{ range .ToolCalls }}}}{go_unit}'
            f'{{{{ end }}}}{_lit(post)}{{{{ else if eq .Role "tool" }}}}{_lit(tp)}{{{{ .Content }}}}{_lit(tq)}')


def ollama_template(tok) -> str:
    """A Go TEMPLATE for Ollama that renders a whole conversation as `tok`'s chat template does. Raises
    TemplateError when the chat template cannot be cut message by message."""
    if not getattr(tok, "chat_template", None):
        raise TemplateError("the tokenizer has no chat template")
    s = {"role": "system", "content": SYS}
    u1, a1 = {"role": "user", "content": U1}, {"role": "assistant", "content": A1}
    u2 = {"role": "user", "content": U2}
    r0 = _render(tok, [s])
    r1 = _render(tok, [s, u1])
    r2 = _render(tok, [s, u1, a1])
    r3 = _render(tok, [s, u1, a1, u2])
    g3 = _render(tok, [s, u1, a1, u2], gen=True)
    sp, sq = _split(r0, SYS)
    up, uq = _split(_after(r1, r0), U1)
    ap, aq = _split(_after(r2, r1), A1)
    if _after(r3, r2) != up + U2 + uq:
        raise TemplateError("the chat template renders the second user turn unlike the first")
    gen = _after(g3, r3)
    alone = _render(tok, [u1])
    if not alone.endswith(up + U1 + uq):
        raise TemplateError("the chat template renders a user turn differently without a system turn")
    default = alone[:len(alone) - len(up + U1 + uq)]
    if _render(tok, [u1, a1, u2]) != alone + ap + A1 + aq + up + U2 + uq:
        raise TemplateError("the chat template renders a conversation without a system turn unlike one with it")
    tools = _tool_parts(tok, [u1]) or ""
    head = f"{{{{ if not .System }}}}{_lit(default)}{{{{ end }}}}" if default else ""
    return (f'{head}{{{{ $last := "" }}}}{{{{ range .Messages }}}}{{{{ $last = .Role }}}}'
            f'{{{{ if eq .Role "system" }}}}{_lit(sp)}{{{{ .Content }}}}{_lit(sq)}'
            f'{{{{ else if eq .Role "user" }}}}{_lit(up)}{{{{ .Content }}}}{_lit(uq)}'
            f'{tools}'
            f'{{{{ else if eq .Role "assistant" }}}}{_lit(ap)}{{{{ .Content }}}}{_lit(aq)}'
            f'{{{{ end }}}}{{{{ end }}}}{{{{ if ne $last "assistant" }}}}{_lit(gen)}{{{{ end }}}}')


def supports_tools(template: str) -> bool:
    return ".ToolCalls" in template


def modelfile(tok, source: str) -> str:
    """The Modelfile: FROM `source` (./gguf/<file>.gguf, or ./merged), the multi-turn TEMPLATE and the stop token."""
    lines = [f"FROM {source}", ""]
    try:
        lines.append('TEMPLATE """' + ollama_template(tok) + '"""')
    except TemplateError as e:
        from .serving import ollama_template as single_turn
        lines += [f"# The chat template cannot be written as a multi-turn Ollama TEMPLATE ({e});",
                  "# this one renders one system and one user turn.",
                  'TEMPLATE """' + single_turn(tok) + '"""']
    if tok.eos_token:  # the end-of-turn token the model was tuned to emit
        lines += ["", f"PARAMETER stop {json.dumps(tok.eos_token)}"]
    return "\n".join(lines) + "\n"
