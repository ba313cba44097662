/* parser.y — the DSL grammar (a pure bison parser driven by the reentrant scanner in lexer.l).
 * Builds the syntax tree of one file into ParseCtx.items; the first error is kept in ParseCtx.err. */
%define api.pure full
%define api.prefix {dsl_yy}
%define parse.error verbose
%locations
%param {void *scanner}
%parse-param {struct ParseCtx *ctx}

%code requires {
#include "ast.h"
}

%code provides {
int dsl_yylex(DSL_YYSTYPE *lval, DSL_YYLTYPE *lloc, void *scanner);
}

%code {
#include <string.h>
#define YYMAXDEPTH 4000
static SrcLoc L(struct ParseCtx *c, DSL_YYLTYPE l) { SrcLoc s = {c->file, l.first_line, l.first_column}; return s; }
static void dsl_yyerror(DSL_YYLTYPE *l, void *scanner, struct ParseCtx *ctx, const char *msg) {
  (void)scanner;
  if (strcmp(msg, "memory exhausted") == 0) msg = "program nested too deeply";
  err_set(&ctx->err, L(ctx, *l), "%s", msg);
}
static Vec vec1(struct ParseCtx *c, void *p) { Vec v = {0, 0, 0}; vec_push(c->arena, &v, p); return v; }
#define A (ctx->arena)
}

%union {
  struct { double d; int64_t i; int is_int; } num;
  const char *str;
  Expr *expr;
  TypeExpr *type;
  Stmt *stmt;
  Item *item;
  Field *field;
  Param *param;
  Vec vec;
  struct { Vec args; Vec names; } call;
}

%token IMPORT "'import'"
%token CONST "'const'"
%token SYM "'sym'"
%token STRUCT "'struct'"
%token PARAM "'param'"
%token FN "'fn'"
%token EXPORT "'export'"
%token MASK "'mask'"
%token SAMPLER "'sampler'"
%token STATE "'state'"
%token LOOP "'loop'"
%token FOR "'for'"
%token IN "'in'"
%token RETURN "'return'"
%token TRUE "'true'"
%token FALSE "'false'"
%token CACHE "'cache'"
%token BREAK "'break'"
%token IF "'if'"
%token MEMO "'memo'"
%token ELLIPSIS "'...'" DOTDOT "'..'" ARROW "'->'" POW "'**'" EQ "'=='" NE "'!='" LE "'<='" GE "'>='"
%token ANDAND "'&&'" OROR "'||'" LEXERR "invalid token"
%token <str> NAME "identifier" STRING "string"
%token <num> NUMBER "number"

%type <expr> expr primary idxitem opt_init
%type <vec> exprs idxitems stmts block fields params opt_params opt_extra names rets opt_rets dimlist items
%type <call> callargs callargs1
%type <type> type
%type <stmt> stmt
%type <item> item fndecl
%type <field> field
%type <param> param
%type <str> opt_ckpt opt_cache

%left OROR
%left ANDAND
%nonassoc EQ NE '<' LE '>' GE
%left '+' '-'
%left '*' '/' '%'
%precedence UNARY
%right POW

%%
file: items { ctx->items = $1; } ;

items: %empty { $$ = (Vec){0, 0, 0}; }
     | items item { $$ = $1; vec_push(A, &$$, $2); }
     | items ';' { $$ = $1; }
     ;

item: IMPORT STRING { $$ = arena_alloc(A, sizeof(Item)); $$->kind = I_IMPORT; $$->loc = L(ctx, @2); $$->name = $2; }
    | CONST NAME '=' expr { $$ = arena_alloc(A, sizeof(Item)); $$->kind = I_CONST; $$->loc = L(ctx, @2); $$->name = $2; $$->value = $4; }
    | SYM NAME { $$ = arena_alloc(A, sizeof(Item)); $$->kind = I_DIM; $$->loc = L(ctx, @2); $$->name = $2; }
    | STRUCT NAME '{' fields '}' { $$ = arena_alloc(A, sizeof(Item)); $$->kind = I_STRUCT; $$->loc = L(ctx, @2); $$->name = $2;
                                  ast_vec_to(ctx, &$4, (void ***)&$$->fields, &$$->nfields); }
    | PARAM NAME ':' type opt_init opt_ckpt { $$ = arena_alloc(A, sizeof(Item)); $$->kind = I_PARAM; $$->loc = L(ctx, @2); $$->name = $2; $$->type = $4; $$->value = $5; $$->ckpt = $6; }
    | fndecl { $$ = $1; }
    | EXPORT fndecl { $$ = $2; $$->exported = 1; }
    | MASK NAME '(' NAME ',' NAME opt_extra ')' '=' expr {
        $$ = arena_alloc(A, sizeof(Item)); $$->kind = I_MASK; $$->loc = L(ctx, @2); $$->name = $2; $$->value = $10;
        Param *q = arena_alloc(A, sizeof(Param)); q->loc = L(ctx, @4); q->name = $4;
        Param *k = arena_alloc(A, sizeof(Param)); k->loc = L(ctx, @6); k->name = $6;
        Vec v = vec1(ctx, q); vec_push(A, &v, k);
        ast_vec_to(ctx, &v, (void ***)&$$->params, &$$->nparams);
        ast_vec_to(ctx, &$7, (void ***)&$$->extra, &$$->nextra); }
    | SAMPLER NAME '(' opt_params ')' opt_rets block {
        $$ = arena_alloc(A, sizeof(Item)); $$->kind = I_SAMPLER; $$->loc = L(ctx, @2); $$->name = $2;
        ast_vec_to(ctx, &$4, (void ***)&$$->params, &$$->nparams);
        ast_vec_to(ctx, &$6, (void ***)&$$->rets, &$$->nrets);
        ast_vec_to(ctx, &$7, (void ***)&$$->body, &$$->nbody); }
    ;

fndecl: FN NAME '(' opt_params ')' opt_rets block {
        $$ = arena_alloc(A, sizeof(Item)); $$->kind = I_FN; $$->loc = L(ctx, @2); $$->name = $2;
        ast_vec_to(ctx, &$4, (void ***)&$$->params, &$$->nparams);
        ast_vec_to(ctx, &$6, (void ***)&$$->rets, &$$->nrets);
        ast_vec_to(ctx, &$7, (void ***)&$$->body, &$$->nbody); }
      ;

opt_extra: %empty { $$ = (Vec){0, 0, 0}; }
         | ';' names { $$ = $2; }
         ;
names: NAME { Param *p = arena_alloc(A, sizeof(Param)); p->loc = L(ctx, @1); p->name = $1; $$ = vec1(ctx, p); }
     | names ',' NAME { Param *p = arena_alloc(A, sizeof(Param)); p->loc = L(ctx, @3); p->name = $3; $$ = $1; vec_push(A, &$$, p); }
     ;

opt_rets: %empty { $$ = (Vec){0, 0, 0}; }
        | ARROW type { $$ = vec1(ctx, $2); }
        | ARROW '(' rets ')' { $$ = $3; }
        ;
rets: type { $$ = vec1(ctx, $1); }
    | rets ',' type { $$ = $1; vec_push(A, &$$, $3); }
    ;

opt_params: %empty { $$ = (Vec){0, 0, 0}; }
          | params { $$ = $1; }
          | params ',' { $$ = $1; }
          ;
params: param { $$ = vec1(ctx, $1); }
      | params ',' param { $$ = $1; vec_push(A, &$$, $3); }
      ;
param: NAME ':' type { $$ = arena_alloc(A, sizeof(Param)); $$->loc = L(ctx, @1); $$->name = $1; $$->type = $3; }
     | NAME ':' type '=' expr { $$ = arena_alloc(A, sizeof(Param)); $$->loc = L(ctx, @1); $$->name = $1; $$->type = $3; $$->dflt = $5; }
     ;

fields: %empty { $$ = (Vec){0, 0, 0}; }
      | fields field { $$ = $1; vec_push(A, &$$, $2); }
      | fields ',' { $$ = $1; }
      | fields ';' { $$ = $1; }
      ;
field: NAME ':' type opt_init opt_ckpt { $$ = arena_alloc(A, sizeof(Field)); $$->loc = L(ctx, @1); $$->name = $1; $$->type = $3; $$->init = $4; $$->ckpt = $5; } ;
opt_init: %empty { $$ = NULL; } | '=' expr { $$ = $2; } ;
opt_ckpt: %empty { $$ = NULL; } | '@' STRING { $$ = $2; } ;

type: NAME { $$ = arena_alloc(A, sizeof(TypeExpr)); $$->loc = L(ctx, @1); $$->name = $1; }
    | NAME '[' dimlist ']' { $$ = arena_alloc(A, sizeof(TypeExpr)); $$->loc = L(ctx, @1); $$->name = $1; $$->has_dims = 1;
                             ast_vec_to(ctx, &$3, (void ***)&$$->dims, &$$->ndims); }
    | NAME '[' ELLIPSIS ']' { $$ = arena_alloc(A, sizeof(TypeExpr)); $$->loc = L(ctx, @1); $$->name = $1; $$->has_dims = 1; $$->ellipsis = 1; }
    | NAME '[' ELLIPSIS ',' dimlist ']' { $$ = arena_alloc(A, sizeof(TypeExpr)); $$->loc = L(ctx, @1); $$->name = $1; $$->has_dims = 1; $$->ellipsis = 1;
                             ast_vec_to(ctx, &$5, (void ***)&$$->dims, &$$->ndims); }
    ;
dimlist: expr { $$ = vec1(ctx, $1); }
       | dimlist ',' expr { $$ = $1; vec_push(A, &$$, $3); }
       ;

block: '{' stmts '}' { $$ = $2; } ;
stmts: %empty { $$ = (Vec){0, 0, 0}; }
     | stmts stmt { $$ = $1; vec_push(A, &$$, $2); }
     | stmts ';' { $$ = $1; }
     ;

stmt: NAME '=' expr { $$ = arena_alloc(A, sizeof(Stmt)); $$->kind = S_ASSIGN; $$->loc = L(ctx, @1); $$->value = $3;
                      $$->names = arena_alloc(A, sizeof(char *)); $$->names[0] = $1; $$->nlocs = arena_alloc(A, sizeof(SrcLoc)); $$->nlocs[0] = L(ctx, @1); $$->nnames = 1; }
    | NAME '=' MEMO expr { $$ = arena_alloc(A, sizeof(Stmt)); $$->kind = S_ASSIGN; $$->loc = L(ctx, @1); $$->value = $4; $$->memo = 1;
                      $$->names = arena_alloc(A, sizeof(char *)); $$->names[0] = $1; $$->nlocs = arena_alloc(A, sizeof(SrcLoc)); $$->nlocs[0] = L(ctx, @1); $$->nnames = 1; }
    | NAME ':' type '=' expr { $$ = arena_alloc(A, sizeof(Stmt)); $$->kind = S_ASSIGN; $$->loc = L(ctx, @1); $$->value = $5; $$->type = $3;
                      $$->names = arena_alloc(A, sizeof(char *)); $$->names[0] = $1; $$->nlocs = arena_alloc(A, sizeof(SrcLoc)); $$->nlocs[0] = L(ctx, @1); $$->nnames = 1; }
    | names ',' NAME '=' expr {
        $$ = arena_alloc(A, sizeof(Stmt)); $$->kind = S_ASSIGN; $$->loc = L(ctx, @1); $$->value = $5;
        Param *p = arena_alloc(A, sizeof(Param)); p->loc = L(ctx, @3); p->name = $3; vec_push(A, &$1, p);
        $$->nnames = $1.n; $$->names = arena_alloc(A, sizeof(char *) * (size_t)$1.n); $$->nlocs = arena_alloc(A, sizeof(SrcLoc) * (size_t)$1.n);
        for (int i = 0; i < $1.n; i++) { $$->names[i] = ((Param *)$1.v[i])->name; $$->nlocs[i] = ((Param *)$1.v[i])->loc; } }
    | RETURN exprs { $$ = arena_alloc(A, sizeof(Stmt)); $$->kind = S_RETURN; $$->loc = L(ctx, @1); ast_vec_to(ctx, &$2, (void ***)&$$->values, &$$->nvalues); }
    | FOR NAME IN expr DOTDOT expr block { $$ = arena_alloc(A, sizeof(Stmt)); $$->kind = S_FOR; $$->loc = L(ctx, @1); $$->var = $2; $$->lo = $4; $$->hi = $6;
                      ast_vec_to(ctx, &$7, (void ***)&$$->body, &$$->nbody); }
    | LOOP NAME IN expr DOTDOT expr opt_cache block { $$ = arena_alloc(A, sizeof(Stmt)); $$->kind = S_LOOP; $$->loc = L(ctx, @1); $$->var = $2; $$->lo = $4; $$->hi = $6;
                      $$->cache = $7; $$->cache_loc = L(ctx, @7); ast_vec_to(ctx, &$8, (void ***)&$$->body, &$$->nbody); }
    | STATE NAME ':' type '=' expr { $$ = arena_alloc(A, sizeof(Stmt)); $$->kind = S_STATE; $$->loc = L(ctx, @2); $$->type = $4; $$->value = $6;
                      $$->names = arena_alloc(A, sizeof(char *)); $$->names[0] = $2; $$->nlocs = arena_alloc(A, sizeof(SrcLoc)); $$->nlocs[0] = L(ctx, @2); $$->nnames = 1; }
    | BREAK IF expr { $$ = arena_alloc(A, sizeof(Stmt)); $$->kind = S_BREAK_IF; $$->loc = L(ctx, @1); $$->value = $3; }
    ;
opt_cache: %empty { $$ = NULL; }
         | CACHE '(' NAME ')' { $$ = $3; }
         ;

exprs: expr { $$ = vec1(ctx, $1); }
     | exprs ',' expr { $$ = $1; vec_push(A, &$$, $3); }
     ;

expr: primary { $$ = $1; }
    | expr OROR expr { $$ = ast_bin(ctx, OPX_OR, $1, $3, L(ctx, @2)); }
    | expr ANDAND expr { $$ = ast_bin(ctx, OPX_AND, $1, $3, L(ctx, @2)); }
    | expr EQ expr { $$ = ast_bin(ctx, OPX_EQ, $1, $3, L(ctx, @2)); }
    | expr NE expr { $$ = ast_bin(ctx, OPX_NE, $1, $3, L(ctx, @2)); }
    | expr '<' expr { $$ = ast_bin(ctx, OPX_LT, $1, $3, L(ctx, @2)); }
    | expr LE expr { $$ = ast_bin(ctx, OPX_LE, $1, $3, L(ctx, @2)); }
    | expr '>' expr { $$ = ast_bin(ctx, OPX_GT, $1, $3, L(ctx, @2)); }
    | expr GE expr { $$ = ast_bin(ctx, OPX_GE, $1, $3, L(ctx, @2)); }
    | expr '+' expr { $$ = ast_bin(ctx, OPX_ADD, $1, $3, L(ctx, @2)); }
    | expr '-' expr { $$ = ast_bin(ctx, OPX_SUB, $1, $3, L(ctx, @2)); }
    | expr '*' expr { $$ = ast_bin(ctx, OPX_MUL, $1, $3, L(ctx, @2)); }
    | expr '/' expr { $$ = ast_bin(ctx, OPX_DIV, $1, $3, L(ctx, @2)); }
    | expr '%' expr { $$ = ast_bin(ctx, OPX_MOD, $1, $3, L(ctx, @2)); }
    | expr POW expr { $$ = ast_bin(ctx, OPX_POW, $1, $3, L(ctx, @2)); }
    | '-' expr %prec UNARY { $$ = ast_un(ctx, OPX_NEG, $2, L(ctx, @1)); }
    | '!' expr %prec UNARY { $$ = ast_un(ctx, OPX_NOT, $2, L(ctx, @1)); }
    ;

primary: NUMBER { $$ = ast_expr(ctx, E_NUM, L(ctx, @1)); $$->num = $1.d; $$->ival = $1.i; $$->is_int = $1.is_int; }
       | TRUE { $$ = ast_expr(ctx, E_BOOL, L(ctx, @1)); $$->num = 1; }
       | FALSE { $$ = ast_expr(ctx, E_BOOL, L(ctx, @1)); $$->num = 0; }
       | NAME { $$ = ast_expr(ctx, E_NAME, L(ctx, @1)); $$->name = $1; }
       | '(' expr ')' { $$ = $2; }
       | '[' exprs ']' { $$ = ast_expr(ctx, E_LIST, L(ctx, @1)); ast_vec_to(ctx, &$2, (void ***)&$$->args, &$$->nargs); }
       | '[' ']' { $$ = ast_expr(ctx, E_LIST, L(ctx, @1)); }
       | NAME '(' callargs ')' { $$ = ast_expr(ctx, E_CALL, L(ctx, @1)); $$->name = $1;
                                 ast_vec_to(ctx, &$3.args, (void ***)&$$->args, &$$->nargs); $$->argnames = (const char **)$3.names.v; }
       | primary '.' NAME { $$ = ast_expr(ctx, E_FIELD, L(ctx, @3)); $$->a = $1; $$->name = $3; }
       | primary '[' idxitems ']' { $$ = ast_expr(ctx, E_INDEX, L(ctx, @2)); $$->a = $1; ast_vec_to(ctx, &$3, (void ***)&$$->args, &$$->nargs); }
       ;

callargs: %empty { $$.args = (Vec){0, 0, 0}; $$.names = (Vec){0, 0, 0}; }
        | callargs1 { $$ = $1; }
        | callargs1 ',' { $$ = $1; }
        ;
callargs1: expr { $$.args = vec1(ctx, $1); $$.names = vec1(ctx, NULL); }
         | NAME '=' expr { $$.args = vec1(ctx, $3); $$.names = vec1(ctx, (void *)$1); }
         | MASK '=' expr { $$.args = vec1(ctx, $3); $$.names = vec1(ctx, (void *)"mask"); }
         | callargs1 ',' expr { $$ = $1; vec_push(A, &$$.args, $3); vec_push(A, &$$.names, NULL); }
         | callargs1 ',' NAME '=' expr { $$ = $1; vec_push(A, &$$.args, $5); vec_push(A, &$$.names, (void *)$3); }
         | callargs1 ',' MASK '=' expr { $$ = $1; vec_push(A, &$$.args, $5); vec_push(A, &$$.names, (void *)"mask"); }
         ;

idxitems: idxitem { $$ = vec1(ctx, $1); }
        | idxitems ',' idxitem { $$ = $1; vec_push(A, &$$, $3); }
        ;
idxitem: expr { $$ = $1; }
       | ELLIPSIS { $$ = ast_expr(ctx, E_ELLIPSIS, L(ctx, @1)); }
       | ':' { $$ = ast_expr(ctx, E_RANGE, L(ctx, @1)); }
       | expr ':' { $$ = ast_expr(ctx, E_RANGE, L(ctx, @2)); $$->a = $1; }
       | ':' expr { $$ = ast_expr(ctx, E_RANGE, L(ctx, @1)); $$->b = $2; }
       | expr ':' expr { $$ = ast_expr(ctx, E_RANGE, L(ctx, @2)); $$->a = $1; $$->b = $3; }
       ;
%%

