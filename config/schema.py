"""The root GraphQL schema: each app contributes its Query and Mutation."""

import graphene

from catalog.graphql.schema import Mutation as CatalogMutation
from catalog.graphql.schema import Query as CatalogQuery
from changes.graphql.schema import Query as ChangesQuery
from graph.graphql.schema import Mutation as GraphMutation
from graph.graphql.schema import Query as GraphQuery
from scorecards.graphql.schema import Query as ScorecardsQuery
from teams.graphql.schema import Mutation as TeamsMutation
from teams.graphql.schema import Query as TeamsQuery


class Query(TeamsQuery, CatalogQuery, GraphQuery, ChangesQuery, ScorecardsQuery, graphene.ObjectType):
    pass


class Mutation(TeamsMutation, CatalogMutation, GraphMutation, graphene.ObjectType):
    pass


schema = graphene.Schema(query=Query, mutation=Mutation)
