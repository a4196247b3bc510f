import graphene
from graphene_django import DjangoObjectType

from changes.models import Deploy


class DeployType(DjangoObjectType):
    service = graphene.String(required=True, description="The service's slug.")
    deploy_id = graphene.String(required=True, description="The pipeline's own id for the deploy.")

    class Meta:
        model = Deploy
        convert_choices_to_enum = False
        fields = [
            "id",
            "version",
            "environment",
            "commit",
            "url",
            "deployer",
            "status",
            "started_at",
            "finished_at",
            "created_at",
        ]

    def resolve_service(self, info):
        return self.service.slug

    def resolve_deploy_id(self, info):
        return self.client_id
