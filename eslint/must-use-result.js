// ESLint rule: a neverthrow Result (or ResultAsync) may not be dropped unread. A statement whose value is a
// Result, also through `void` or `await`, loses its error without a word; read it with match, mapErr,
// orElse, isErr or the like; a chain that ends in mapErr, orElse or orTee has read it. (eslint-plugin-neverthrow
// does this for ESLint 8 only.)
import { ESLintUtils } from '@typescript-eslint/utils';

const RESULT_TYPES = new Set(['Ok', 'Err', 'ResultAsync']);
// A chain that ends in one of these has read the error side; what is left may be dropped.
const READS_ERROR = new Set(['mapErr', 'orElse', 'orTee']);

function readsError(expression) {
  return (
    expression.type === 'CallExpression' &&
    expression.callee.type === 'MemberExpression' &&
    expression.callee.property.type === 'Identifier' &&
    READS_ERROR.has(expression.callee.property.name)
  );
}

function isResult(type) {
  if (type.isUnion()) return type.types.some(isResult);
  const symbol = type.getSymbol() ?? type.aliasSymbol;
  if (symbol === undefined || !RESULT_TYPES.has(symbol.getName())) return false;
  return (symbol.getDeclarations() ?? []).some((d) => d.getSourceFile().fileName.includes('/neverthrow/'));
}

export const mustUseResult = ESLintUtils.RuleCreator.withoutDocs({
  meta: {
    type: 'problem',
    messages: { dropped: 'A Result is dropped unread: its error would be lost. Read it (match, mapErr, orElse, isErr, …).' },
    schema: [],
  },
  defaultOptions: [],
  create(context) {
    const services = ESLintUtils.getParserServices(context);
    const checker = services.program.getTypeChecker();
    const report = (node, expression) => {
      if (!readsError(expression) && isResult(services.getTypeAtLocation(expression))) context.report({ node, messageId: 'dropped' });
    };
    return {
      // `() => void result`: the value of an arrow body is the arrow's, but `void` throws it away.
      'ArrowFunctionExpression > UnaryExpression[operator="void"]'(node) {
        report(node, node.argument);
      },
      ExpressionStatement(node) {
        let expression = node.expression;
        let awaited = false;
        for (;;) {
          if (expression.type === 'UnaryExpression' && expression.operator === 'void') expression = expression.argument;
          else if (expression.type === 'AwaitExpression') {
            awaited = true;
            expression = expression.argument;
          } else break;
        }
        if (readsError(expression)) return;
        let type = services.getTypeAtLocation(expression);
        if (awaited) type = checker.getAwaitedType(type) ?? type;
        if (isResult(type)) context.report({ node, messageId: 'dropped' });
      },
    };
  },
});
