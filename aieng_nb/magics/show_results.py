"""``%aieng`` lines in the middle of a cell show their result, as the cell's last line does.

IPython displays only the value of a cell's last expression, so ``%aieng status`` followed by more
code showed nothing. This AST transformer (registered in IPython's ``shell.ast_transformers`` by
``%load_ext aieng_nb``) wraps every earlier top-level ``%aieng ...`` statement in :func:`show`,
which displays a result other than None (``display()``, as IPython's own ``%timeit`` shows its
figures mid-cell). Assignments (``runs = %aieng runs``), other code and the last line are left
as IPython runs them.

>>> import ast
>>> tree = ast.parse("get_ipython().run_line_magic('aieng', 'status')\\nx = 1")
>>> "show(get_ipython().run_line_magic('aieng', 'status'))" in ast.unparse(ShowMidCellResults().visit(tree))
True
"""

from __future__ import annotations

import ast
from typing import Any


def show(value: Any) -> None:
    """Display ``value`` the way a cell's last line is displayed (nothing for None)."""
    if value is not None:
        from IPython.display import display

        display(value)


def is_aieng_line(stmt: ast.stmt) -> bool:
    """Whether ``stmt`` is a bare ``%aieng ...`` line (``get_ipython().run_line_magic('aieng', ...)``)."""
    if not isinstance(stmt, ast.Expr) or not isinstance(stmt.value, ast.Call):
        return False
    call, func = stmt.value, stmt.value.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "run_line_magic"
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "get_ipython"
        and bool(call.args)
        and isinstance(call.args[0], ast.Constant)
        and call.args[0].value == "aieng"
    )


class ShowMidCellResults(ast.NodeTransformer):
    """Wraps each top-level ``%aieng`` line but the last in ``show(...)``."""

    def visit_Module(self, node: ast.Module) -> ast.Module:
        for i, stmt in enumerate(node.body[:-1]):
            if is_aieng_line(stmt):
                assert isinstance(stmt, ast.Expr)
                module = ast.Call(
                    func=ast.Name(id="__import__", ctx=ast.Load()),
                    args=[ast.Constant(__name__)],
                    keywords=[ast.keyword(arg="fromlist", value=ast.List(elts=[ast.Constant("show")], ctx=ast.Load()))],
                )
                wrapped = ast.Call(
                    func=ast.Attribute(value=module, attr="show", ctx=ast.Load()), args=[stmt.value], keywords=[]
                )
                node.body[i] = ast.copy_location(ast.Expr(value=wrapped), stmt)
        return ast.fix_missing_locations(node)
