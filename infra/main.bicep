// `azd up` entry point: one resource group holding the app, its storage, its monitoring and
// the identity that reaches both. No shared keys or instrumentation-key auth anywhere.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name: names the resource group and seeds resource names')
param environmentName string

@minLength(1)
@description('Region for every resource (one where Flex Consumption is offered)')
@metadata({ azd: { type: 'location' } })
param location string

@description('Durable task hub name (host.json hubName is %TASKHUB_NAME%): letters and digits, 3-45, a letter first')
param taskHubName string = 'SubOrchestrationHub'

@description('Share of runs whose telemetry is kept, 0..1, decided once per run')
param samplingRatio string = '1.0'

@description('cloud_RoleName of the app rows in Application Insights')
param serviceName string = 'durable-sub-orchestration'

var tags = { 'azd-env-name': environmentName }
var token = toLower(uniqueString(subscription().id, environmentName, location))

resource rg 'Microsoft.Resources/resourceGroups@2021-04-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module app 'app/resources.bicep' = {
  name: 'resources'
  scope: rg
  params: {
    location: location
    tags: tags
    token: token
    taskHubName: taskHubName
    samplingRatio: samplingRatio
    serviceName: serviceName
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = app.outputs.functionAppName
output APPLICATIONINSIGHTS_NAME string = app.outputs.appInsightsName
output WORKBOOK_ID string = app.outputs.workbookId
